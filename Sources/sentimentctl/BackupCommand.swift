import ArgumentParser
import Foundation
import SentimentCore
import SentimentProtocol

struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Write a consistent copy of the daemon's database to FILE while it runs (backup.*, admin).",
        discussion: """
        The daemon copies its database with SQLite's online backup (every label, version, activation and run as \
        of one moment; serving and writers go on) into its state directory; this command reads the copy over the \
        socket and writes FILE as the user who runs it (mode 0600: the file holds every label), under a \
        temporary name renamed when complete and checked against the daemon's SHA-256. The daemon removes its \
        copy at the end.

        Restore (README, "Backup and restore"): stop the daemon, put the file in place of the database (and \
        remove the database's -wal and -shm files), owned by the service user, start the daemon.
        """
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    @Argument(help: ArgumentHelp("The file to write.", valueName: "file"), completion: .file())
    var file: String

    func run() throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory), isDirectory.boolValue {
            throw CtlFailure.usage("\(file) is a directory; name the backup file to write")
        }
        let client = try connection.connect()
        defer { client.close() }
        let begun = try client.checkedCall(BackupBeginMethod.self, NoParams())
        defer { _ = try? client.call(BackupEndMethod.self, .init(backupID: begun.backupID)) }
        let progress = StatusLine()
        let chunk = max(4096, min(begun.maxChunkBytes, 1 << 20))
        try CtlFailure.writingFile(progress) {
            try AtomicFile.write(to: URL(fileURLWithPath: file), permissions: 0o600) { sink in
                var hasher = SHA256Hasher()
                var offset: Int64 = 0
                while offset < begun.bytes {
                    let piece = try client.checkedCall(BackupReadMethod.self, .init(backupID: begun.backupID, offset: offset,
                                                                                      length: chunk))
                    guard !piece.data.isEmpty else {
                        throw CtlFailure.broken("the daemon's copy ended at \(offset) of \(begun.bytes) bytes")
                    }
                    try sink.write(piece.data)
                    hasher.update(piece.data)
                    offset += Int64(piece.data.count)
                    progress.draw("backup: \(offset * 100 / max(begun.bytes, 1))% of \(begun.bytes) bytes")
                }
                let digest = hasher.finalizeHex()
                guard digest == begun.sha256 else {
                    throw CtlFailure.broken("the copy read has SHA-256 \(digest), the daemon's has \(begun.sha256); "
                        + "nothing was written to \(file)")
                }
            }
        }
        if output.json { try printJSON(begun); return }
        print("backup of \(begun.database) as of \(ISO8601DateFormatter().string(from: begun.takenAt)) written to \(file)")
        print("  \(begun.bytes) bytes, sha256 \(begun.sha256)")
        print("  \(begun.labels) labels, \(begun.versions) model versions, \(begun.runs) training runs; schema "
            + (begun.migrations.last ?? "-"))
    }
}
