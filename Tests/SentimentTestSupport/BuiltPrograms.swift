import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The executables `swift build` wrote next to the test bundle, and running a program to its end: the one copy for
/// every test target that runs the real sentimentd or sentimentctl.
package enum BuiltProducts {
    /// The build products folder: the test bundle sits in it, next to the executables.
    package static var directory: URL {
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            return bundle.bundleURL.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    }

    /// The executable `name`; the test is skipped when it is not built.
    package static func executable(_ name: String) throws -> URL {
        let url = directory.appendingPathComponent(name)
        guard FileManager.default.isExecutableFile(atPath: url.path) else {
            throw XCTSkip("\(name) is not built next to the tests (\(url.path)); run `swift build` first")
        }
        return url
    }
}

/// What a program run to its end did.
package struct ProgramRun: Sendable, CustomStringConvertible {
    package var status: Int32
    /// The signal that ended it (then `status` is its number), nil for an exit.
    package var signal: Int32?
    package var out: String
    package var err: String

    package var description: String { "status \(status)\(signal == nil ? "" : " (signal)"); stdout:\n\(out)\nstderr:\n\(err)" }
}

/// Runs `program` with `args` to its end. Its environment is this process's without the variables `removing`
/// names, with `environment` over it; its standard input is `stdin` (else empty). Both output pipes are read at
/// once, so a chatty stderr cannot block the child. With a `timeout`, a program still running after it is killed
/// and the test fails (a hang is a failure, not a stuck test).
package func runToEnd(_ program: URL, _ args: [String], stdin: String? = nil, environment extra: [String: String] = [:],
                      removing: [String] = [], timeout: TimeInterval? = nil) throws -> ProgramRun {
    let p = Process()
    p.executableURL = program
    p.arguments = args
    var env = ProcessInfo.processInfo.environment
    for name in removing { env.removeValue(forKey: name) }
    env.merge(extra) { _, n in n }
    p.environment = env
    let out = Pipe(), err = Pipe(), input = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = input
    try p.run()
    if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
    try input.fileHandleForWriting.close()
    let outData = LockedData(), errData = LockedData()
    let group = DispatchGroup()
    for (pipe, box) in [(out, outData), (err, errData)] {
        group.enter()
        DispatchQueue.global().async {
            box.append(pipe.fileHandleForReading.readDataToEndOfFile())
            group.leave()
        }
    }
    if let timeout {
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            XCTFail("\(program.lastPathComponent) \(args.joined(separator: " ")) did not finish within \(timeout) s")
        }
    }
    p.waitUntilExit()
    group.wait()
    return ProgramRun(status: p.terminationStatus, signal: p.terminationReason == .uncaughtSignal ? p.terminationStatus : nil,
                      out: String(decoding: outData.value, as: UTF8.self), err: String(decoding: errData.value, as: UTF8.self))
}

/// Bytes appended from other threads (a child's output pipes).
package final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    package init() {}
    package func append(_ d: Data) { lock.lock(); data.append(d); lock.unlock() }
    package var value: Data { lock.lock(); defer { lock.unlock() }; return data }
}
