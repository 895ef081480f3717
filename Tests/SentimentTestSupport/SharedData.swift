import Foundation

/// Where the tests find the project's shared data, which is not part of the repository (the TweetEval sentiment
/// tweets, the RoBERTa tokenizer files): the folder `SENTIMENTD_SHARED_DATA` names. When the variable is not set,
/// its default comes from `scripts/shared-data.sh`, the one place that default is written (the folder
/// `shared/data` beside the repository), so the tests, the bench scripts and tools/ always look in the same place.
/// A test that needs a file of it skips when the file is absent (a user's clone has no shared data).
package enum SharedData {
    /// The shared data folder (it may not exist).
    package static let folder: URL = {
        if let value = ProcessInfo.processInfo.environment["SENTIMENTD_SHARED_DATA"], !value.isEmpty {
            return URL(fileURLWithPath: value)
        }
        return URL(fileURLWithPath: askScript() ?? TestFixtures.repositoryRoot.deletingLastPathComponent().path + "/shared/data")
    }()

    /// `relative` inside the shared data folder, when that file or folder exists.
    package static func file(_ relative: String) -> URL? {
        let url = folder.appendingPathComponent(relative)
        return FileManager.default.fileExists(atPath: url.path) ? url : nil
    }

    /// Why a test that needs `relative` skips.
    package static func absence(_ relative: String) -> String {
        "\(folder.path)/\(relative) is absent: the shared data (SENTIMENTD_SHARED_DATA, default from "
            + "scripts/shared-data.sh) is not on this machine"
    }

    /// The default scripts/shared-data.sh computes, or nil when the shell cannot be run.
    private static func askScript() -> String? {
        let script = TestFixtures.repositoryRoot.appendingPathComponent("scripts/shared-data.sh").path
        guard FileManager.default.fileExists(atPath: script) else { return nil }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", ". \"$0\" && printf %s \"$SENTIMENTD_SHARED_DATA\"", script]
        p.currentDirectoryURL = TestFixtures.repositoryRoot
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "SENTIMENTD_SHARED_DATA")
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let path = String(decoding: data, as: UTF8.self)
        return p.terminationStatus == 0 && !path.isEmpty ? path : nil
    }
}
