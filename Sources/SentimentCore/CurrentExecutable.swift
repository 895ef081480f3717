import Foundation

/// The running binary, for starting a child from the same build (the daemon's `train-worker`, the serving
/// benchmark's daemon): `/proc/self/exe` resolved, else the path the process was started with.
public enum CurrentExecutable {
    public static var url: URL {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            return URL(fileURLWithPath: path)
        }
        return URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
    }
}
