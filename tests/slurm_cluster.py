"""A real single-node Slurm cluster on 127.0.0.1 for the tests, with real
accounting (slurmdbd on MariaDB) as production clusters run it.

Every daemon runs in the foreground as a child of the test process and is
stopped by its PID, pass or fail. Slurm's client tools and the executor plugin's
job steps read /etc/slurm/slurm.conf (the plugin strips SLURM_CONF), so that file
is written for the cluster's lifetime and the previous one restored afterwards.
"""

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

ETC = Path("/etc/slurm")
DAEMONS = ("munged", "mariadbd", "slurmdbd", "slurmctld", "slurmd")


def missing_binaries():
    tools = [*DAEMONS, "mariadb-install-db", "mariadb", "sacctmgr", "sbatch", "sacct", "sinfo"]
    return [tool for tool in tools if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists()]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def binary(name):
    return shutil.which(name) or str(Path("/usr/sbin", name))


class SlurmCluster:
    def __init__(self, root):
        self.root = Path(root)
        self.processes = []
        self.saved_configs = {}
        self.node = subprocess.run(["hostname", "-s"], capture_output=True, text=True, check=True).stdout.strip()
        self.ports = {name: free_port() for name in ("mysql", "slurmdbd", "slurmctld", "slurmd")}

    # -- lifecycle ---------------------------------------------------------
    def start(self):
        try:
            self._start_munge()
            self._start_mariadb()
            self._start_slurmdbd()
            self._start_slurm()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        """Stop every daemon this cluster started, newest first, by PID."""
        for name, process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.processes.clear()
        for path, content in self.saved_configs.items():
            if content is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(content)
        self.saved_configs.clear()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- helpers -----------------------------------------------------------
    def _spawn(self, name, command):
        log = open(self.root / f"{name}.out", "w")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.processes.append((name, process))
        return process

    def _wait(self, what, check, seconds=60):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for name, process in self.processes:
                if process.poll() is not None:
                    log = (self.root / f"{name}.out").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"{name} exited with {process.returncode} while waiting for {what}:\n{log}")
            if check():
                return
            time.sleep(0.5)
        raise TimeoutError(f"timed out waiting for {what}")

    def _succeeds(self, *command):
        return subprocess.run(command, capture_output=True, timeout=30).returncode == 0

    def _write_config(self, path, text, mode=0o644):
        if path not in self.saved_configs:
            self.saved_configs[path] = path.read_bytes() if path.exists() else None
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(mode)

    def run(self, *command):
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=True).stdout

    # -- daemons -----------------------------------------------------------
    def _start_munge(self):
        socket_dir = Path("/run/munge")
        socket_dir.mkdir(parents=True, exist_ok=True)
        shutil.chown(socket_dir, "munge", "munge")
        if not Path("/etc/munge/munge.key").exists():
            subprocess.run(["runuser", "-u", "munge", "--", "mungekey", "--create"], check=True)
        if (socket_dir / "munge.socket.2").exists() and self._succeeds("sh", "-c", "munge -n | unmunge"):
            return  # a munged is already serving this machine; reuse it
        self._spawn("munged", ["runuser", "-u", "munge", "--", binary("munged"), "--foreground", "--force"])
        self._wait("munged", lambda: self._succeeds("sh", "-c", "munge -n | unmunge"))

    def _start_mariadb(self):
        data = self.root / "mysql"
        self.mysql_socket = self.root / "mysql.sock"
        subprocess.run(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={data}",
                "--user=root",
                "--auth-root-authentication-method=socket",
                "--skip-test-db",
            ],
            capture_output=True,
            check=True,
            timeout=120,
        )
        self._spawn(
            "mariadbd",
            [
                binary("mariadbd"),
                "--no-defaults",
                f"--datadir={data}",
                f"--socket={self.mysql_socket}",
                "--bind-address=127.0.0.1",
                f"--port={self.ports['mysql']}",
                "--user=root",
                f"--pid-file={self.root / 'mariadbd.pid'}",
                "--innodb-buffer-pool-size=64M",
            ],
        )
        sql = [binary("mariadb"), "--no-defaults", f"--socket={self.mysql_socket}", "-u", "root"]
        self._wait("mariadb", lambda: self._succeeds(*sql, "-e", "SELECT 1"))
        subprocess.run(
            sql
            + [
                "-e",
                "CREATE USER 'slurm'@'localhost' IDENTIFIED BY 'slurm-test';"
                "CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm-test';"
                "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
                "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';",
            ],
            check=True,
            timeout=30,
        )

    def _start_slurmdbd(self):
        self._write_config(
            ETC / "slurmdbd.conf",
            f"""\
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort={self.ports['slurmdbd']}
SlurmUser=root
LogFile={self.root / 'slurmdbd.log'}
PidFile={self.root / 'slurmdbd.pid'}
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={self.ports['mysql']}
StorageUser=slurm
StoragePass=slurm-test
StorageLoc=slurm_acct_db
""",
            mode=0o600,
        )
        # sacctmgr needs slurm.conf to find slurmdbd.
        self._write_slurm_conf()
        self._spawn("slurmdbd", [binary("slurmdbd"), "-D"])
        self._wait("slurmdbd", lambda: self._succeeds("sacctmgr", "-n", "list", "cluster"))
        for command in (
            ["add", "cluster", "ci"],
            ["add", "account", "ci", "cluster=ci"],
            ["add", "user", "root", "account=ci", "cluster=ci"],
        ):
            subprocess.run(["sacctmgr", "-i", *command], capture_output=True, check=True, timeout=60)

    def _write_slurm_conf(self):
        for directory in ("state", "spool"):
            (self.root / directory).mkdir(exist_ok=True)
        memory = int(int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20) * 0.8)
        cpus = os.cpu_count()
        self._write_config(
            ETC / "slurm.conf",
            f"""\
ClusterName=ci
SlurmctldHost={self.node}(127.0.0.1)
SlurmctldPort={self.ports['slurmctld']}
SlurmdPort={self.ports['slurmd']}
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={self.root / 'state'}
SlurmdSpoolDir={self.root / 'spool'}
SlurmctldPidFile={self.root / 'slurmctld.pid'}
SlurmdPidFile={self.root / 'slurmd.pid'}
SlurmctldLogFile={self.root / 'slurmctld.log'}
SlurmdLogFile={self.root / 'slurmd.log'}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort={self.ports['slurmdbd']}
MinJobAge=600
AccountingStoreFlags=job_comment
NodeName={self.node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
""",
        )

    def _start_slurm(self):
        self._spawn("slurmctld", [binary("slurmctld"), "-D", "-i"])
        self._wait("slurmctld", lambda: self._succeeds("scontrol", "ping"))
        self._spawn("slurmd", [binary("slurmd"), "-D", "-N", self.node])
        self._wait("an idle node", lambda: "idle" in self.run("sinfo", "-h", "-N", "-o", "%T"))
