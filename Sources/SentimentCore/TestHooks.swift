import Foundation

/// The one fault-injection seam. Tests and fault scripts that run the real binaries need to stop a process at a
/// known moment (to truncate the file being read, or kill the process mid-step) and to make a validation process
/// fail as a hostile file could. Production code reaches the test environment only through this type: nothing
/// happens unless the environment names a point, and outside tests each point costs one `getenv`.
///
/// **Pausing.** `SENTIMENTD_TEST_PAUSE_AT` names one point as `<role>:<point>`. Reaching it, the process creates the
/// (empty) file `SENTIMENTD_TEST_PAUSE_FILE` and waits while that file exists (or forever, if it cannot be
/// created): the test polls for the file, does what it needs (kill, truncate, …), and removes the file to let the
/// process go on. Roles and points (`V` a version folder's name, `F` a file's name in it):
///
/// | role | point | where |
/// |---|---|---|
/// | `daemon`, `validation`, `worker` | `opened V/F` | a checkpoint file opened, before any byte is read (the folder reader) |
/// | `validation` | `validating V` | the validation process, before it looks at the folder |
/// | `daemon` | `importing B` | `labels.import.commit` of import `B`, before its transaction |
/// | `daemon` | `activating V` | an activation (any reason, rollbacks too), before its record is written |
/// | `daemon` | `activated V` | the activation recorded, before the served model is swapped |
/// | `daemon` | `rolling back V` | a rollback away from the active version `V`, before it chooses a target |
/// | `worker` | `before-publish` | the training worker: manifest written in staging, not yet renamed into models/ |
/// | `worker` | `after-publish` | the candidate renamed into models/ and fsynced, the run not yet marked published |
///
/// The registry's points (`activating`, `activated`, `rolling back`) run on the registry's queue: a pause there
/// longer than `models.validation_timeout` is seen by the registry's watch, as a real stall would be. `importing B`
/// runs on the request's task and holds only that import (and its client) while it waits.
///
/// **Holding an int8 check.** While the file `SENTIMENTD_TEST_HOLD_INT8_CHECK` names exists, a version's int8 check
/// (`models.precision = "int8"`) waits before it compares, so a test sees what serves meanwhile (the version itself
/// in fp32 when nothing else could answer; the previous version during a hot reload, the new one not yet active), or
/// stops the check by a rollback or an activation.
///
/// **Validation faults.** `SENTIMENTD_TEST_VALIDATION_FAULT` lists `fault:V` pairs, comma-separated: the validation
/// process of version `V` then crashes (a wild write), allocates without end (until its address-space limit stops
/// it) or hangs, as a parser bug driven by a hostile file would.
public enum TestHooks {
    /// Which process this is: "daemon" (and the one-shot commands), "validation" in `validate-worker`, "worker" in
    /// `train-worker`. Set once, first thing in the process's entry point.
    nonisolated(unsafe) public static var role = "daemon"

    /// Waits at `point` when `SENTIMENTD_TEST_PAUSE_AT` names it for this process's role (see the table above).
    public static func pause(_ point: String) {
        guard let wanted = getenv("SENTIMENTD_TEST_PAUSE_AT").map({ String(cString: $0) }),
              wanted == "\(role):\(point)" else { return }
        guard let file = getenv("SENTIMENTD_TEST_PAUSE_FILE").map({ String(cString: $0) }),
              // Empty: the validation process may write no byte to a file (RLIMIT_FSIZE 0).
              FileManager.default.createFile(atPath: file, contents: nil) else {
            while true { sleep(3600) }
        }
        waitWhileExists(file)
    }

    /// Blocks until `file` is gone. The registry's watch must see a paused thread make no progress, and it counts a
    /// thread found runnable as progress: a thread that polled (five wake-ups a second) was now and then caught
    /// runnable on a loaded machine, and the watchdog pinged while the registry was meant to be stuck. So it sleeps in
    /// the kernel on an inotify watch of the file (woken only when the file changes) and polls only when no watch can
    /// be had (the validation process may be out of descriptors), once a second.
    static func waitWhileExists(_ file: String) {
        let fd = inotify_init1(Int32(IN_CLOEXEC))
        defer { if fd >= 0 { close(fd) } }
        var buffer = [UInt8](repeating: 0, count: 4096)
        while FileManager.default.fileExists(atPath: file) {
            if fd >= 0, inotify_add_watch(fd, file, UInt32(IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB)) >= 0,
               FileManager.default.fileExists(atPath: file) {
                _ = read(fd, &buffer, buffer.count)
            } else {
                sleep(1)
            }
        }
    }

    /// Waits while the int8-check hold file exists (see above); false when `isCancelled` says to stop waiting.
    public static func holdInt8Check(unless isCancelled: () -> Bool) -> Bool {
        guard let file = getenv("SENTIMENTD_TEST_HOLD_INT8_CHECK").map({ String(cString: $0) }) else { return true }
        while FileManager.default.fileExists(atPath: file) {
            if isCancelled() { return false }
            usleep(20_000)
        }
        return true
    }

    /// What a hostile file could make a parser do, on demand (`SENTIMENTD_TEST_VALIDATION_FAULT`).
    public enum ValidationFault: String, Sendable {
        case crash, allocate, hang
    }

    /// The fault the environment asks the validation of `version` to show, if any.
    public static func validationFault(version: String) -> ValidationFault? {
        guard let list = getenv("SENTIMENTD_TEST_VALIDATION_FAULT").map({ String(cString: $0) }) else { return nil }
        for pair in list.split(separator: ",") where pair.hasSuffix(":\(version)") {
            return ValidationFault(rawValue: String(pair.dropLast(version.count + 1)))
        }
        return nil
    }
}
