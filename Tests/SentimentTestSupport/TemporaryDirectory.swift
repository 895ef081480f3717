import Foundation

/// A fresh temporary directory per test, removed at deinit; every test target's one. It is made under /tmp with
/// mkdtemp: short enough for the Unix socket paths the daemon tests put in it, and mode 0755 so that clients the
/// daemon tests run as other users can reach into it.
package final class TemporaryDirectory {
    package let url: URL

    /// `prefix` starts the folder's name.
    package init(_ prefix: String = "sd") throws {
        var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        url = URL(fileURLWithPath: String(cString: made))
        chmod(url.path, 0o755)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    package func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    @discardableResult
    package func write(_ name: String, _ content: String) -> URL {
        let u = url.appendingPathComponent(name)
        try! Data(content.utf8).write(to: u)
        return u
    }
    @discardableResult
    package func write(_ name: String, bytes: [UInt8]) -> URL {
        let u = url.appendingPathComponent(name)
        try! Data(bytes).write(to: u)
        return u
    }
}
