"""Real upstream engines for the bridge interop tests and the fleet script:
RabbitMQ with its MQTT plugin, ejabberd with mod_mqtt, nats-server with
JetStream and MQTT (one node or a cluster), all from Debian packages.

Each engine runs from its own temporary directory (config, data, logs) on
loopback ports picked here, as the user running the tests, with nothing
read from /etc or /var: the packaged system services may or may not be
running beside them and are never touched. Erlang engines get a node name
of their own and their own epmd (RabbitMQ, on a free port, killed by
stop()) or none at all (ejabberd: -start_epmd false with a fixed
distribution port), so they cannot collide with a packaged node either.
stop() ends exactly the processes start() created.
"""

import glob
import os
import shutil
import signal
import subprocess
import time

import tern_harness as h

NATS = shutil.which("nats-server") or "/usr/sbin/nats-server"
RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
ERL = shutil.which("erl") or "/usr/bin/erl"
EPMD = shutil.which("epmd") or "/usr/bin/epmd"


def _ejabberd_lib_dir():
    """The folder holding ejabberd-VERSION (Debian: /usr/lib/<triplet>)."""
    for d in sorted(glob.glob("/usr/lib/*/ejabberd-*")):
        if os.path.isdir(os.path.join(d, "ebin")):
            return os.path.dirname(d)
    return None


def rabbitmq_installed():
    return os.path.exists(RABBITMQ_SERVER)


def ejabberd_installed():
    return os.path.exists(ERL) and _ejabberd_lib_dir() is not None


class Engine:
    """A process in its own directory, its output in one log file."""

    name = "engine"

    def __init__(self, tmp_dir, tag):
        self.dir = os.path.join(str(tmp_dir), tag)
        os.makedirs(self.dir, exist_ok=True)
        self.log_path = os.path.join(self.dir, "out.log")
        self.proc = None
        self._log = None
        self.port = h.free_port()          # MQTT

    def _spawn(self, argv, env=None, timeout=60.0):
        self._log = open(self.log_path, "ab")
        e = dict(os.environ)
        e.update(env or {})
        # A session of its own: stop() can end the engine's helpers (the
        # shell wrappers, erl_child_setup) as one group.
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=self._log, env=e, cwd=self.dir,
                                     start_new_session=True)
        h.wait_until(lambda: self.proc.poll() is not None or h.port_accepts(self.port),
                     timeout, interval=0.1, msg="%s MQTT port %d" % (self.name, self.port))
        if self.proc.poll() is not None:
            raise AssertionError("%s exited during startup:\n%s" % (self.name,
                                                                   self.log()[-4000:]))

    def log(self):
        out = []
        for p in [self.log_path] + self.extra_logs():
            try:
                with open(p, "rb") as f:
                    out.append(f.read().decode("utf-8", "replace"))
            except OSError:
                pass
        return "\n".join(out)

    def extra_logs(self):
        return []

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def _end_group(self, sig, wait_s):
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            return True
        try:
            self.proc.wait(wait_s)
            return True
        except subprocess.TimeoutExpired:
            return False

    def kill9(self):
        if self.running():
            self._end_group(signal.SIGKILL, 10)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            if not self._end_group(signal.SIGTERM, 20):
                self._end_group(signal.SIGKILL, 10)
        if self.proc is not None:
            try:  # helpers left in the group after the leader exited
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self._log:
            self._log.close()
            self._log = None


class RabbitMQ(Engine):
    """rabbitmq-server 3.10 with rabbitmq_mqtt (MQTT 3.1.1 only; QoS 2 is
    taken at QoS 1). Boot takes 5-15 s: start it once per module."""

    name = "rabbitmq"

    def __init__(self, tmp_dir, tag="rabbitmq"):
        super().__init__(tmp_dir, tag)
        self.amqp_port = h.free_port()
        self.dist_port = h.free_port()
        self.epmd_port = h.free_port()
        self.node = "tern%d@localhost" % self.port
        d = self.dir
        for sub in ("mnesia", "log", "home"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        with open(os.path.join(d, "rabbitmq.conf"), "w") as f:
            f.write("listeners.tcp.default = 127.0.0.1:%d\n"
                    "mqtt.listeners.tcp.default = 127.0.0.1:%d\n"
                    "mqtt.allow_anonymous = true\n"
                    "loopback_users = none\n"
                    "log.console = true\nlog.console.level = info\nlog.file = false\n"
                    % (self.amqp_port, self.port))
        with open(os.path.join(d, "enabled_plugins"), "w") as f:
            f.write("[rabbitmq_mqtt].\n")
        with open(os.path.join(d, "rabbitmq-env.conf"), "w") as f:
            f.write("# empty: nothing from /etc/rabbitmq\n")
        self.env = {
            "HOME": os.path.join(d, "home"),            # its own .erlang.cookie
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_PORT": str(self.epmd_port),       # its own epmd
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_CONF_ENV_FILE": os.path.join(d, "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": os.path.join(d, "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": os.path.join(d, "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": os.path.join(d, "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": os.path.join(d, "mnesia"),
            "RABBITMQ_LOG_BASE": os.path.join(d, "log"),
            "RABBITMQ_PID_FILE": os.path.join(d, "rabbitmq.pid"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS":
                "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def start(self):
        self._spawn([RABBITMQ_SERVER], self.env, timeout=90)
        # The MQTT listener opens before the plugin has finished booting
        # on some runs: wait for the line that says the node is up.
        h.wait_until(lambda: "Server startup complete" in self.log() or not self.running(),
                     60, interval=0.2, msg="rabbitmq startup complete")
        return self

    def stop(self):
        super().stop()
        # The epmd this node started on its own port, and only that one.
        subprocess.run([EPMD, "-kill"], env=dict(os.environ, ERL_EPMD_PORT=str(self.epmd_port)),
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=10, check=False)


class Ejabberd(Engine):
    """ejabberd 23.01 with mod_mqtt (MQTT 3.1.1 and 5, QoS 0-2). Its MQTT
    sessions and subscriptions are Mnesia RAM tables: they survive a
    network cut but not a restart of ejabberd. Clients must log in: with
    anonymous login any username and password will do. Boots in ~1 s."""

    name = "ejabberd"
    username = "gw"
    password = "secret"

    def __init__(self, tmp_dir, tag="ejabberd", extra_modules=""):
        super().__init__(tmp_dir, tag)
        self.dist_port = h.free_port()
        self.node = "ternej%d@localhost" % self.port
        d = self.dir
        os.makedirs(os.path.join(d, "spool"), exist_ok=True)
        os.makedirs(os.path.join(d, "logs"), exist_ok=True)
        self.conf = os.path.join(d, "ejabberd.yml")
        with open(self.conf, "w") as f:
            f.write("hosts:\n  - localhost\nloglevel: info\n"
                    "auth_method: [anonymous]\nanonymous_protocol: login_anon\n"
                    "listen:\n  -\n    port: %d\n    ip: \"127.0.0.1\"\n"
                    "    module: mod_mqtt\n    backlog: 1000\n"
                    "modules:\n  mod_mqtt: {%s}\n" % (self.port, extra_modules))

    def extra_logs(self):
        return [os.path.join(self.dir, "logs", "ejabberd.log")]

    def start(self):
        d = self.dir
        env = {
            "HOME": d,
            "EJABBERD_CONFIG_PATH": self.conf,
            "EJABBERD_LOG_PATH": os.path.join(d, "logs", "ejabberd.log"),
            "EJABBERD_PID_PATH": os.path.join(d, "ejabberd.pid"),
            "ERL_CRASH_DUMP": os.path.join(d, "logs", "erl_crash.dump"),
            "ERL_CRASH_DUMP_BYTES": "0",
            "ERL_LIBS": _ejabberd_lib_dir(),
            "CONTRIB_MODULES_PATH": os.path.join(d, "contrib"),
        }
        # What `ejabberdctl foreground` runs, as the current user and with
        # no epmd: distribution on a fixed port of our own.
        argv = [ERL, "-sname", self.node, "+K", "true", "-noinput", "-erl_epmd_port",
                str(self.dist_port), "-start_epmd", "false",
                "-kernel", "inet_dist_use_interface", "{127,0,0,1}",
                "-mnesia", "dir", '"%s"' % os.path.join(d, "spool"), "-s", "ejabberd"]
        self._spawn(argv, env, timeout=60)
        h.wait_until(lambda: "Start accepting TCP connections" in self.log()
                     or not self.running(), 30, interval=0.1, msg="ejabberd listener")
        return self


class NatsNode(Engine):
    """nats-server with JetStream and MQTT; with `routes` a cluster node."""

    name = "nats"

    def __init__(self, tmp_dir, tag="nats", server_name="n1", cluster_port=None, routes=()):
        super().__init__(tmp_dir, tag)
        self.server_name = server_name
        self.nats_port = h.free_port()
        self.cluster_port = cluster_port
        self.routes = list(routes)
        self.conf = os.path.join(self.dir, "nats.conf")

    def write_config(self):
        lines = ['server_name: "%s"' % self.server_name,
                 'listen: "127.0.0.1:%d"' % self.nats_port,
                 'jetstream { store_dir: "%s/js" }' % self.dir,
                 'mqtt { host: "127.0.0.1", port: %d }' % self.port]
        if self.cluster_port:
            lines.append('cluster { name: "tern-fleet", listen: "127.0.0.1:%d", routes: [%s] }'
                         % (self.cluster_port,
                            ", ".join('"nats-route://127.0.0.1:%d"' % p for p in self.routes)))
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self, timeout=30):
        self.write_config()
        self._spawn([NATS, "-c", self.conf], timeout=timeout)
        return self


def nats_cluster(tmp_dir, n=3):
    """n NatsNode objects routed to each other (not started)."""
    cports = [h.free_port() for _ in range(n)]
    nodes = []
    for i in range(n):
        nodes.append(NatsNode(tmp_dir, "nats%d" % (i + 1), "n%d" % (i + 1), cports[i],
                              [p for j, p in enumerate(cports) if j != i]))
    return nodes


def wait_gone(proc, timeout=10):
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return proc.poll() is not None
