// The socket's request path as the daemon runs it: the byte stream split into lines (LineSplitter, the
// SocketServer's framing, compiled in from Sources/SentimentService/Server/LineFrameDecoder.swift), each line
// parsed as a JSON-RPC 2.0 envelope (RPCRequest.parse), its params decoded as the named method's Params type
// (what Router does), and the error answer encoded. The first byte picks how the stream is cut into reads.
// Also the client's side: each line parsed as a response (RPCResponse.parse, what sentimentctl reads).
import Foundation
import NIOCore
import SentimentCore
import SentimentProtocol

private let decoders: [String: (RPCRequest) throws -> Void] = {
    var table: [String: (RPCRequest) throws -> Void] = [:]
    func add<M: RPCMethod>(_ method: M.Type) { table[M.name] = { _ = try $0.decodeParams(M.Params.self) } }
    add(BackupBeginMethod.self); add(BackupReadMethod.self); add(BackupEndMethod.self)
    add(LabelsListMethod.self); add(LabelsRemoveMethod.self); add(LabelsAddMethod.self)
    add(LabelsImportBeginMethod.self); add(LabelsImportChunkMethod.self); add(LabelsImportCommitMethod.self)
    add(LabelsImportAbortMethod.self); add(LabelsStatsMethod.self); add(LabelsDrawEvalMethod.self)
    add(PredictMethod.self); add(StatusMethod.self); add(ModelsListMethod.self); add(ModelsActivateMethod.self)
    add(RollbackMethod.self); add(ReloadMethod.self); add(MetricsMethod.self); add(ModelsRemoveMethod.self)
    add(ModelsPinMethod.self); add(TrainMethod.self); add(TrainCancelMethod.self); add(RunsListMethod.self)
    add(RunsShowMethod.self)
    return table
}()

/// A small line limit, so that the too-long path is reached by short inputs.
private let maxLineBytes = 4096

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let readSize = Int(data[0]) + 1
    var splitter = LineSplitter(maxLineBytes: maxLineBytes)
    var buffer = ByteBufferAllocator().buffer(capacity: 0)
    var offset = 1
    while offset < size {
        let n = min(readSize, size - offset)
        buffer.writeBytes(UnsafeRawBufferPointer(start: data + offset, count: n))
        offset += n
        while let frame = splitter.next(&buffer) { handle(frame) }
        buffer.discardReadBytes()
    }
    while let frame = splitter.finish(&buffer) { handle(frame) }
    return 0
}

private func handle(_ frame: LineFrame) {
    guard case var .line(bytes) = frame else { return }
    precondition(bytes.readableBytes <= maxLineBytes, "a line longer than the limit was let through")
    let line = Data(bytes.readBytes(length: bytes.readableBytes)!)
    switch RPCRequest.parse(line: line) {
    case let .success(request):
        if let decode = decoders[request.method] {
            do { try decode(request) } catch let error as RPCError {
                _ = RPCResponse.encodeFailure(id: request.id ?? .null, error: error.wireObject)
            } catch {
                fatalError("params decoding threw something other than RPCError: \(error)")
            }
        }
        _ = try? request.encodedLine()
    case let .failure(failure):
        _ = RPCResponse.encodeFailure(id: failure.id, error: failure.error.wireObject)
    }
    _ = try? RPCResponse.parse(line: line)
}
