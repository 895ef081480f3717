import Dispatch
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// inotify on `models/` and on each version folder in it; reports a version name once nothing in or about that
/// folder changed for the settle time. This file owns every inotify call.
///
/// Events that count as a change: in `models/`, a directory created, renamed in or out, or deleted; in a version
/// folder, a file created, written (each write, so a long copy of one large file keeps the folder unsettled),
/// closed after writing, renamed in or out, deleted, or its attributes (mtime) changed. Dot-directories such as
/// `.staging/` are not watched; publishing from there is a rename, which arrives as one event. Subfolders of a
/// version are not watched (a checkpoint is flat).
///
/// The watcher runs on its own thread and only calls back; `onSettled` and `onOverflow` must return quickly.
final class DirectoryWatcher: @unchecked Sendable {
    enum WatchError: Error, CustomStringConvertible {
        case cannotWatch(path: String, reason: String)
        var description: String {
            switch self {
            case let .cannotWatch(path, reason): return "\(path): cannot watch for new models: \(reason)"
            }
        }
    }

    private static let rootMask = UInt32(IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CLOSE_WRITE
        | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
    private static let versionMask = UInt32(IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM
        | IN_DELETE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

    let root: URL
    private let logger: Logger
    private let onSettled: @Sendable (String) -> Void
    private let onOverflow: @Sendable () -> Void

    // Owned by the watcher thread once it runs (set up by `start` before the thread exists).
    private var tracker: SettleTracker
    private var inotifyFD: Int32 = -1
    /// A pipe that `stop` writes to, to wake the thread's poll.
    private var wakeRead: Int32 = -1
    private var wakeWrite: Int32 = -1
    private var rootWatch: Int32 = -1
    private var nameByWatch: [Int32: String] = [:]
    private var watchByName: [String: Int32] = [:]

    private let finished = DispatchSemaphore(value: 0)
    private let stateLock = NSLock()
    private var running = false

    init(root: URL, settleMilliseconds: Int, logger: Logger,
         onSettled: @escaping @Sendable (String) -> Void, onOverflow: @escaping @Sendable () -> Void) {
        self.root = root
        self.tracker = SettleTracker(settleMilliseconds: settleMilliseconds)
        self.logger = logger
        self.onSettled = onSettled
        self.onOverflow = onOverflow
    }

    /// Adds the watches (models/ and every version folder already there) and starts the thread. Changes made
    /// after `start` returns are reported, even those the caller's initial scan also sees.
    func start() throws {
        inotifyFD = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard inotifyFD >= 0 else {
            throw WatchError.cannotWatch(path: root.path, reason: "inotify_init1: " + String(cString: strerror(errno)))
        }
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0 else {
            let reason = String(cString: strerror(errno))
            closeDescriptors()
            throw WatchError.cannotWatch(path: root.path, reason: "pipe: \(reason)")
        }
        (wakeRead, wakeWrite) = (pipeFDs[0], pipeFDs[1])
        for fd in pipeFDs {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, O_NONBLOCK)
        }
        rootWatch = inotify_add_watch(inotifyFD, root.path, Self.rootMask)
        guard rootWatch >= 0 else {
            let reason = String(cString: strerror(errno))
            closeDescriptors()
            throw WatchError.cannotWatch(path: root.path, reason: reason)
        }
        watchExistingVersions(touching: false)
        stateLock.lock()
        running = true
        stateLock.unlock()
        let thread = Thread { [self] in
            run()
            closeDescriptors()
            finished.signal()
        }
        thread.name = "sentimentd-models-watcher"
        thread.start()
    }

    /// Stops the thread and closes the descriptors; pending (unsettled) names are dropped.
    func stop() {
        stateLock.lock()
        let wasRunning = running
        running = false
        stateLock.unlock()
        guard wasRunning else { return }
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
        finished.wait()
    }

    private func closeDescriptors() {
        for fd in [inotifyFD, wakeRead, wakeWrite] where fd >= 0 { close(fd) }
        inotifyFD = -1
        wakeRead = -1
        wakeWrite = -1
    }

    private static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    private func run() {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            var timeout: Int32 = -1
            if let deadline = tracker.nextDeadline {
                let now = Self.now()
                timeout = deadline <= now ? 0 : Int32(min((deadline - now + 999_999) / 1_000_000, 60_000))
            }
            var fds = [pollfd(fd: inotifyFD, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&fds, 2, timeout)
            if ready < 0 && errno != EINTR {
                logger.error("models watcher stopped: poll failed", metadata: ["error": "\(String(cString: strerror(errno)))"])
                return
            }
            if fds[1].revents != 0 { return }
            if fds[0].revents & Int16(POLLIN) != 0 { drainEvents(&buffer) }
            for name in tracker.takeDue(at: Self.now()) {
                onSettled(name)
            }
        }
    }

    private func drainEvents(_ buffer: inout [UInt8]) {
        while true {
            let count = buffer.withUnsafeMutableBytes { read(inotifyFD, $0.baseAddress, $0.count) }
            if count <= 0 { return }  // EAGAIN: drained
            let now = Self.now()
            buffer.withUnsafeBytes { bytes in
                var offset = 0
                while offset + 16 <= count {
                    let wd = bytes.loadUnaligned(fromByteOffset: offset, as: Int32.self)
                    let mask = bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
                    let length = Int(bytes.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
                    var name = ""
                    if length > 0 {
                        let raw = bytes[(offset + 16)..<(offset + 16 + length)]
                        name = String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                    }
                    handle(wd: wd, mask: mask, name: name, now: now)
                    offset += 16 + length
                }
            }
        }
    }

    private func handle(wd: Int32, mask: UInt32, name: String, now: UInt64) {
        if mask & UInt32(IN_Q_OVERFLOW) != 0 {
            logger.warning("models watcher: event queue overflowed; rescanning the models directory")
            watchExistingVersions(touching: true)
            onOverflow()
            return
        }
        if wd == rootWatch {
            if mask & UInt32(IN_DELETE_SELF | IN_MOVE_SELF) != 0 {
                logger.error("the models directory was removed or moved; new models are not seen until restart",
                             metadata: ["path": "\(root.path)"])
                return
            }
            if mask & UInt32(IN_IGNORED) != 0 { return }
            guard CheckpointFolder.isVersionName(name) else { return }
            if mask & UInt32(IN_MOVED_FROM | IN_DELETE) != 0 {
                unwatch(name, remove: mask & UInt32(IN_MOVED_FROM) != 0)
            } else if watchByName[name] == nil {
                watch(name)
            }
            tracker.touch(name, at: now)
            return
        }
        guard let version = nameByWatch[wd] else { return }
        if mask & UInt32(IN_IGNORED) != 0 {
            nameByWatch[wd] = nil
            if watchByName[version] == wd { watchByName[version] = nil }
            return
        }
        if mask & UInt32(IN_ISDIR) != 0 && mask & UInt32(IN_DELETE_SELF | IN_MOVE_SELF) == 0 { return }  // subfolders
        // Dot-files count too: writes to rsync's temporary keep the folder unsettled until it is renamed in.
        tracker.touch(version, at: now)
    }

    private func watch(_ name: String) {
        let path = root.appendingPathComponent(name).path
        let wd = inotify_add_watch(inotifyFD, path, Self.versionMask)
        if wd < 0 {
            // ENOTDIR for plain files (ignored); ENOENT when it vanished; ENOSPC when out of watches.
            if errno == ENOSPC {
                logger.warning("models watcher: out of inotify watches; changes inside this folder are seen only on reload",
                               metadata: ["version": "\(name)"])
            }
            return
        }
        if let old = watchByName[name], old != wd { nameByWatch[old] = nil }
        nameByWatch[wd] = name
        watchByName[name] = wd
    }

    private func unwatch(_ name: String, remove: Bool) {
        guard let wd = watchByName[name] else { return }
        watchByName[name] = nil
        nameByWatch[wd] = nil
        // A folder renamed away keeps its watch (the inode lives on); drop it so its events are not misattributed.
        if remove { _ = inotify_rm_watch(inotifyFD, wd) }
    }

    private func watchExistingVersions(touching: Bool) {
        guard let names = try? CheckpointFolder.versionNames(in: root) else { return }
        for name in names where watchByName[name] == nil {
            watch(name)
            if touching { tracker.touch(name, at: Self.now()) }
        }
    }
}
