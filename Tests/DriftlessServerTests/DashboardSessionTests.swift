import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Testing

@testable import DriftlessServer

/// The dashboard's sessions, its notices to open pages and the checks on its forms and redirects,
/// without a daemon.
@Suite("Dashboard sessions")
struct DashboardSessionTests {
    @Test func aSessionIsFoundByItsCookieOnlyAndExpires() throws {
        let store = SessionStore(lifetime: 60, capacity: 10)
        let start = Date(timeIntervalSince1970: 1_000_000)
        let (cookie, session) = store.open(user: "bob", tokenID: "3f2a9c1b0d4e", now: start)
        #expect(cookie.count >= 43, "256 random bits")
        #expect(store.session(cookie: cookie, now: start.addingTimeInterval(59)) == session)
        #expect(store.session(cookie: cookie + "x", now: start) == nil)
        #expect(store.session(cookie: cookie, now: start.addingTimeInterval(60)) == nil, "expired at its lifetime")
        #expect(store.count == 0, "an expired session is dropped when met")
    }

    @Test func theStoreKeepsHashesNotCookies() {
        let store = SessionStore()
        let (cookie, session) = store.open(user: "bob", tokenID: "id")
        let mirror = Mirror(reflecting: store)
        let kept = mirror.children.first { $0.label == "sessions" }?.value as? [String: SessionStore.Session]
        #expect(kept?.keys.contains(cookie) == false)
        #expect(kept?[SessionStore.key(cookie)] == session)
        #expect(session.csrf != cookie, "the form token is not the cookie")
    }

    @Test func signingOutEndsTheSessionAndCapacityDropsTheOldest() {
        let store = SessionStore(lifetime: 100, capacity: 2)
        let start = Date()
        let first = store.open(user: "a", tokenID: "1", now: start).cookie
        let second = store.open(user: "b", tokenID: "2", now: start.addingTimeInterval(1)).cookie
        let third = store.open(user: "c", tokenID: "3", now: start.addingTimeInterval(2)).cookie
        #expect(store.session(cookie: first, now: start.addingTimeInterval(3)) == nil, "the one closest to expiring went")
        #expect(store.session(cookie: second, now: start.addingTimeInterval(3)) != nil)
        store.close(cookie: third)
        #expect(store.session(cookie: third, now: start.addingTimeInterval(3)) == nil)
    }

    @Test func theFeedReachesEverySubscriberAndFinishingEndsTheirStreams() async {
        let feed = ChangeFeed()
        let a = feed.subscribe(), b = feed.subscribe()
        #expect(feed.subscriberCount == 2)
        feed.publish(.drift)
        feed.publish(.run)
        feed.finish()
        var seenA: [ChangeFeed.Change] = [], seenB: [ChangeFeed.Change] = []
        for await change in a { seenA.append(change) }
        for await change in b { seenB.append(change) }
        #expect(seenA == [.drift, .run] && seenB == [.drift, .run])
        var late: [ChangeFeed.Change] = []
        for await change in feed.subscribe() { late.append(change) }
        #expect(late.isEmpty, "a stream made after the daemon stopped ends at once")
    }

    @Test(arguments: [
        ("/", "/"), ("/projects/shop?x=1", "/projects/shop?x=1"), ("//evil.example/", "/"), ("/\\evil.example", "/"),
        ("https://evil.example/", "/"), ("javascript:alert(1)", "/"), ("/a\r\nSet-Cookie: x=1", "/"), ("", "/"),
    ])
    func theThemeSwitchComesBackOnlyToThisServer(back: String, expected: String) {
        #expect(DashboardRoutes.safeBack(back) == expected)
    }

    @Test(arguments: [
        ([:], true),
        (["Origin": "http://127.0.0.1:8080"], true),
        (["Origin": "https://127.0.0.1:8080"], true),
        (["Origin": "http://evil.example"], false),
        (["Origin": "null"], false),
        (["Sec-Fetch-Site": "cross-site"], false),
        (["Sec-Fetch-Site": "same-origin", "Origin": "http://127.0.0.1:8080"], true),
    ])
    func formsRefuseCrossSiteRequests(headers: [String: String], allowed: Bool) {
        var fields = HTTPFields()
        for (name, value) in headers { fields[HTTPField.Name(name)!] = value }
        let head = HTTPRequest(method: .post, scheme: "http", authority: "127.0.0.1:8080", path: "/login", headerFields: fields)
        let request = Request(head: head, body: .init(buffer: ByteBuffer()))
        #expect(DashboardRoutes.sameOrigin(request) == allowed)
    }
}
