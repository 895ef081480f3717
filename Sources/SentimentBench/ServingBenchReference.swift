import Foundation
import SentimentEngine
import SentimentCore

/// The in-process reference of `sentimentd bench --serving`: the same model folder and tweets through
/// `SentimentModel.predict` without the daemon, measured in a fresh child process on a thread of its own.
extension ServingBench {
    /// What the reference child process hands back.
    struct Reference: Codable {
        var inProcess: ServingBenchReport.InProcess
        var meanTokens: Double
        var layers: Int
        var labelCount: Int
    }

    /// Runs `sentimentd bench --serving-reference FILE --model folder …` and reads its result.
    func spawnReference(folder: URL) throws -> Reference {
        let output = folder.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("reference.json")
        let p = Process()
        p.executableURL = CurrentExecutable.url
        p.arguments = ["bench", "--serving-reference", output.path, "--model", folder.path, "--tweets", tweetsFile.path,
                       "--seconds", "\(seconds)", "--warmup", "\(warmup)", "--precision", precision.rawValue]
        do {
            try p.run()
        } catch {
            throw ServingBenchError.referenceFailed(reason: "cannot start \(p.executableURL?.path ?? "?"): \(error)")
        }
        ServingBenchInterruption.childStarted(p.processIdentifier)
        p.waitUntilExit()
        ServingBenchInterruption.childStarted(nil)
        guard p.terminationStatus == 0 else {
            throw ServingBenchError.referenceFailed(reason: "the in-process reference exited with status \(p.terminationStatus)")
        }
        do {
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            return try decoder.decode(Reference.self, from: Data(contentsOf: output))
        } catch {
            throw ServingBenchError.referenceFailed(reason: "\(output.path): \(error)")
        }
    }

    /// The child's side of `spawnReference`: measures on a thread of its own and writes the result as JSON.
    public func runReference(output: URL) throws {
        guard let modelFolder else { throw ServingBenchError.badOption(option: "--serving-reference", reason: "needs --model") }
        let tweets = try Self.readTweets(tweetsFile)
        // Written by the thread before it signals, read after the wait.
        final class Outcome: @unchecked Sendable { var value: Result<Reference, Error>? }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            outcome.value = Result {
                let (inProcess, meanTokens, layers, labels) = try measureInProcess(folder: modelFolder, tweets: tweets)
                return Reference(inProcess: inProcess, meanTokens: meanTokens, layers: layers, labelCount: labels)
            }
            done.signal()
        }
        thread.stackSize = 8 << 20
        thread.start()
        done.wait()
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        try AtomicFile.write(try encoder.encode(try outcome.value!.get()), to: output)
    }

    /// b1: `predict([tweet])` one after the other; b32: `predict` on 32 consecutive tweets. Same tweets, same
    /// order as the socket clients. Returns the numbers, mean tokens per tweet, layer and label count.
    func measureInProcess(folder: URL, tweets: [String]) throws -> (ServingBenchReport.InProcess, Double, Int, Int) {
        let loadStart = BenchClock.now()
        let model = try SentimentModel.load(folder: folder, options: ModelLoadOptions(precision: precision))
        let loadSeconds = BenchClock.now() - loadStart
        let meanTokens = Double(tweets.reduce(0) { $0 + model.encode($1).count }) / Double(tweets.count)

        var next = 0
        let warmEnd = BenchClock.now() + warmup
        repeat {
            _ = model.predict([tweets[next % tweets.count]])
            next += 1
        } while BenchClock.now() < warmEnd
        var latencies: [Double] = []
        let b1Start = ServingBenchCPU.snapshot(daemon: nil)
        while BenchClock.now() - b1Start.time < seconds {
            let s = BenchClock.now()
            _ = model.predict([tweets[next % tweets.count]])
            latencies.append(BenchClock.now() - s)
            next += 1
        }
        let b1End = ServingBenchCPU.snapshot(daemon: nil)

        func batch(_ at: Int) -> [String] { (0..<32).map { tweets[(at + $0) % tweets.count] } }
        _ = model.predict(batch(0))
        var done = 0
        let b32Start = ServingBenchCPU.snapshot(daemon: nil)
        while BenchClock.now() - b32Start.time < seconds {
            _ = model.predict(batch(done))
            done += 32
        }
        let b32End = ServingBenchCPU.snapshot(daemon: nil)

        let result = ServingBenchReport.InProcess(
            loadSeconds: loadSeconds, b1: ServingBenchLatency(seconds: latencies), b1PerSecond: Double(latencies.count) / (b1End.time - b1Start.time),
            b1Cpu: ServingBenchCPU.usage(from: b1Start, to: b1End),
            b32PerSecond: Double(done) / (b32End.time - b32Start.time), b32Cpu: ServingBenchCPU.usage(from: b32Start, to: b32End))
        print(ServingBenchFormat.inProcessLoad(result))
        print(ServingBenchFormat.inProcessB1(result))
        print(ServingBenchFormat.inProcessB32(result))
        return (result, meanTokens, model.config.numLayers, model.labels.count)
    }
}
