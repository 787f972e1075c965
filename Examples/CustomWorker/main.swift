// An example of your own worker executable: the built-in kinds plus one handler of your own.
//
//   swift run custom-worker-example 127.0.0.1 7400 run/certs w9
//   phalanx submit --kind reverse --payload hello --wait
import Foundation
import PhalanxCluster
import PhalanxResilience
import PhalanxTransport

let arguments = CommandLine.arguments
guard arguments.count == 5, let port = Int(arguments[2]) else {
    print("usage: custom-worker-example HOST PORT CERT_DIR NAME   (NAME.pem must be a worker certificate)")
    exit(2)
}
let (host, directory, name) = (arguments[1], arguments[3], arguments[4])

var handlers = TaskHandlerRegistry.builtIn
// A handler returns the output bytes, or throws: a business failure is returned to the caller
// as is, a system failure may be retried, anything else is reported as INTERNAL.
handlers.register("reverse") { input in
    guard !input.payload.isEmpty else { throw PhalanxError.business("reverse needs a non-empty payload") }
    return Array(input.payload.reversed())
}

let configuration = WorkerConfiguration(
    coordinatorHost: host, coordinatorPort: port,
    tls: TLSFiles(caCertificatePath: "\(directory)/ca.pem", certificatePath: "\(directory)/\(name).pem", privateKeyPath: "\(directory)/\(name)-key.pem"))
do {
    try await WorkerRuntime(configuration: configuration, handlers: handlers).run()
} catch {
    print("worker stopped: \(error)")
    exit(1)
}
