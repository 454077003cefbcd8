# workerd serving one Worker that answers every request "Hello, World!", for
# the peers benchmark (host/picloud/benches/suite/peers.rs). Port 0: the kernel
# picks a free port and workerd reports it on its control fd (--control-fd).
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [(name = "main", worker = .hello)],
  sockets = [(name = "http", address = "127.0.0.1:0", http = (), service = "main")],
);

const hello :Workerd.Worker = (
  modules = [(name = "worker", esModule = embed "worker.js")],
  compatibilityDate = "2025-01-01",
);
