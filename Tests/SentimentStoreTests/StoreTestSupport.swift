import Foundation
import GRDB
import XCTest
@testable import SentimentStore

/// A fresh folder under the system temporary directory, removed at tear-down.
class StoreTestCase: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("sentimentd-store-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        // Tests may leave read-only folders behind.
        if let paths = FileManager.default.enumerator(atPath: folder.path) {
            for case let relative as String in paths {
                chmod(folder.appendingPathComponent(relative).path, 0o755)
            }
        }
        chmod(folder.path, 0o755)
        try? FileManager.default.removeItem(at: folder)
    }

    var databaseURL: URL { folder.appendingPathComponent("state/sentimentd.sqlite") }

    /// A pool on `databaseURL`, created and migrated.
    func openPool() throws -> DatabasePool {
        try StoreDatabase.open(path: databaseURL)
    }

    /// Runs `body` as an unprivileged user when the tests run as root, because root writes to files whatever
    /// their permission bits say. Only the effective uid changes, and it is restored afterwards.
    func withoutRootPrivileges<T>(_ body: () throws -> T) throws -> T {
        guard geteuid() == 0 else { return try body() }
        let nobody: uid_t = 65534
        guard seteuid(nobody) == 0 else {
            throw XCTSkip("running as root and cannot drop to uid \(nobody): \(String(cString: strerror(errno)))")
        }
        defer { precondition(seteuid(0) == 0, "could not restore root privileges") }
        return try body()
    }
}

/// A `StoreTestCase` with a migrated pool on `databaseURL`, closed at tear-down (XCTest keeps every test case
/// object until the suite ends: a pool left open would keep its file open until then).
class PooledStoreTestCase: StoreTestCase {
    var pool: DatabasePool!

    override func setUpWithError() throws {
        try super.setUpWithError()
        pool = try openPool()
    }

    override func tearDownWithError() throws {
        pool = nil
        try super.tearDownWithError()
    }
}

/// A `PooledStoreTestCase` with a `LabelStore` on its pool.
class LabelStoreTestCase: PooledStoreTestCase {
    var store: LabelStore!

    override func setUpWithError() throws {
        try super.setUpWithError()
        store = LabelStore(pool: pool)
    }

    override func tearDownWithError() throws {
        store = nil
        try super.tearDownWithError()
    }
}

extension LabelInput {
    static func of(_ text: String, _ label: String, line: Int? = nil) -> LabelInput {
        LabelInput(text: text, label: label, line: line)
    }
}

/// `count` distinct synthetic texts (deterministic).
func syntheticTexts(_ count: Int, prefix: String = "text") -> [String] {
    (0..<count).map { "\(prefix) number \($0) says \(($0 * 7919) % 1013)" }
}
