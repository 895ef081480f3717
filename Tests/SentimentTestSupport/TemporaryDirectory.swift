import Foundation

/// A fresh temporary directory per test, removed afterwards.
package final class TemporaryDirectory {
    package let url: URL
    package init(_ name: String = "trainer") {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("sentimentd-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }

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
