import Foundation
import Logging
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Sends failed runs and new drift to an outgoing webhook: generic JSON, or Slack's `{"text": …}`.
struct Notifier: Sendable {
    var url: URL?
    var format: ServeConfiguration.NotifyFormat
    var logger: Logger

    /// Posts `event` (generic form) or `text` (Slack form); failures are logged, never fatal.
    func send(event: String, text: String, payload: [String: String]) async {
        guard let url else { return }
        var body: [String: String] = payload
        body["event"] = event
        body["text"] = text
        let object: Any = format == .slack ? ["text": text] : body
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
        var request = URLRequest(url: url, timeoutInterval: 10)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = data
        do {
            let (_, response) = try await URLSession.shared.data(for: request)
            if let http = response as? HTTPURLResponse, !(200..<300).contains(http.statusCode) {
                logger.warning("notification refused", metadata: ["status": "\(http.statusCode)", "event": "\(event)"])
            }
        } catch {
            logger.warning("notification failed", metadata: ["error": "\(error)", "event": "\(event)"])
        }
    }
}
