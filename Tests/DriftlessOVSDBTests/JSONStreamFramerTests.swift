import Foundation
import XCTest

@testable import DriftlessOVSDB

/// Splitting a delimiter-less stream of JSON-RPC messages into whole texts.
final class JSONStreamFramerTests: XCTestCase {
    private func frames(_ chunks: [String]) throws -> [String] {
        var framer = JSONStreamFramer()
        var out: [String] = []
        for chunk in chunks {
            out += try framer.append(Array(chunk.utf8)).map { String(decoding: $0, as: UTF8.self) }
        }
        return out
    }

    func testSplitsSeveralObjectsInOneBuffer() throws {
        let input = #"{"id":1,"result":[]}{"id":2,"result":{"a":[1,{"b":2}]}}  \#n\#t[1,2]"#
        XCTAssertEqual(
            try frames([input]), [#"{"id":1,"result":[]}"#, #"{"id":2,"result":{"a":[1,{"b":2}]}}"#, "[1,2]"])
    }

    func testJoinsAnObjectSplitAcrossBuffers() throws {
        let message = #"{"method":"update","params":["m1",{"Port":{"x":{"new":{"name":"p}1"}}}}],"id":null}"#
        // Every possible split point, including inside strings and escapes.
        for cut in 1..<message.utf8.count {
            let bytes = Array(message.utf8)
            let chunks = [String(decoding: bytes[..<cut], as: UTF8.self), String(decoding: bytes[cut...], as: UTF8.self)]
            XCTAssertEqual(try frames(chunks), [message], "cut at \(cut)")
        }
        // Byte by byte.
        XCTAssertEqual(try frames(message.map { String($0) }), [message])
    }

    func testBracesAndEscapedQuotesInsideStringsDoNotEndAFrame() throws {
        let tricky = #"{"s":"}{ ][ \" \\","t":"\\\"}","u":"\\"}"#
        XCTAssertEqual(try frames([tricky + tricky]), [tricky, tricky])
        // Foundation agrees these are whole, valid texts.
        let parsed = try JSONValue(parsing: tricky)
        XCTAssertEqual(parsed["s"], .string(#"}{ ][ " \"#))
        XCTAssertEqual(parsed["u"], .string(#"\"#))
    }

    func testMultibyteUTF8PassesThrough() throws {
        let message = #"{"name":"brücke-✓","x":"}"}"#
        XCTAssertEqual(try frames([message, message]), [message, message])
    }

    func testIncompleteTailIsKept() throws {
        var framer = JSONStreamFramer()
        XCTAssertEqual(try framer.append(Array(#"{"a":1}{"b":"#.utf8)).count, 1)
        XCTAssertTrue(framer.hasPartialFrame)
        let rest = try framer.append(Array(#"2}"#.utf8))
        XCTAssertEqual(rest.map { String(decoding: $0, as: UTF8.self) }, [#"{"b":2}"#])
        XCTAssertFalse(framer.hasPartialFrame)
    }

    func testGarbageBetweenMessagesIsAnError() {
        var framer = JSONStreamFramer()
        XCTAssertThrowsError(try framer.append(Array(#"{"a":1} x"#.utf8)))
    }

    func testOversizedFrameIsAnError() {
        var framer = JSONStreamFramer(maximumFrameSize: 16)
        XCTAssertThrowsError(try framer.append(Array(#"{"a":"0123456789012345678901234"#.utf8)))
    }
}
