import Foundation

/// Fault injection for the tests that run the real binaries: a load paused at a known point (so a test can
/// truncate the file being read, or kill the process mid-validation), a validation process that crashes, hangs
/// or allocates without end. Nothing happens unless the environment names a point; outside tests these are
/// one `getenv` each, at a handful of places (a file opened, a validation started).
///
/// `SENTIMENTD_TEST_PAUSE_AT` names a point as `<role>:<point>` (the role is "daemon" or "validation");
/// reaching it, the process creates the (empty) file `SENTIMENTD_TEST_PAUSE_FILE` and waits until it is removed
/// (or forever, if it cannot be created: the test kills the process).
public enum TestHooks {
    /// Which process this is: "daemon" (and the one-shot commands), or "validation" in `validate-worker`.
    nonisolated(unsafe) public static var role = "daemon"

    public static func pause(_ point: String) {
        guard let wanted = getenv("SENTIMENTD_TEST_PAUSE_AT").map({ String(cString: $0) }),
              wanted == "\(role):\(point)" else { return }
        guard let file = getenv("SENTIMENTD_TEST_PAUSE_FILE").map({ String(cString: $0) }),
              // Empty: the validation process may write no byte to a file (RLIMIT_FSIZE 0).
              FileManager.default.createFile(atPath: file, contents: nil) else {
            while true { sleep(3600) }
        }
        // Checked five times a second: next to no CPU, so the registry's watch sees a thread that makes no progress.
        while FileManager.default.fileExists(atPath: file) { usleep(200_000) }
    }
}
