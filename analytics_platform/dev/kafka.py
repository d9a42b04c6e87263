"""The embedded Kafka: librdkafka's built-in mock cluster, driven through ctypes.

The confluent-kafka wheel bundles librdkafka, and librdkafka contains a mock cluster
that speaks the real Kafka wire protocol on loopback. Starting it costs a few
milliseconds and needs no JVM, no Docker and no download, so tests and `make demo`
get a real broker for free. Any process on the machine can connect to it while the
process that created it is alive; it dies with that process.

The Python package does not expose the mock API (only `test.mock.num.brokers`, which
hides the bootstrap address inside a log line), hence ctypes on the bundled library.

Retention, the one limit that matters for the platform: every mock partition keeps at
most `MOCK_PARTITION_MAX_BYTES` (5 MiB) of record batches *as they travel on the wire*
(so compressed bytes when the producer compresses) and at most
`MOCK_PARTITION_MAX_BATCHES` batches; older batches are dropped whole and the low
watermark moves past them. For 330-420-byte payment events that is 11-13k events
uncompressed and 38-43k with lz4 per partition (`benchmarks/kafka_retention.py`).

Both limits are hard-coded in `rd_kafka_mock_partition_init` (librdkafka 2.16): no
`rd_kafka_mock_*` function and no `test.mock.*` property changes them (the only
`test.mock.*` properties are `num.brokers` and `broker.rtt`, and the one `max_size`
setter, `rd_kafka_mock_sharegroup_set_max_size`, caps a share group's members). Writing
the fields through the mock's private structs would depend on an unstable internal
layout, so it is not done. The levers are more partitions per topic
(`KAFKA_TOPIC_PARTITIONS`) and compression on the producer.

The control calls here (create_topic, delete_records) hand an operation to the mock's
own thread and wait for it. Mostly that takes microseconds, but while clients are
connected an occasional call waits up to about 1 s for that thread to wake (measured
on librdkafka 2.16), so create topics right after start(), before traffic.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from confluent_kafka import Producer

# Hard-coded in librdkafka's rd_kafka_mock_partition_init; see the module docstring.
MOCK_PARTITION_MAX_BYTES = 5 * 1024 * 1024
MOCK_PARTITION_MAX_BATCHES = 100_000

# Kafka protocol API keys, for push_request_errors.
FETCH = 1
LIST_OFFSETS = 2
METADATA = 3

_RD_KAFKA_PRODUCER = 0
_RD_KAFKA_CONF_OK = 0
_ERR_TOPIC_ALREADY_EXISTS = 36
_ERRSTR_SIZE = 512
# Newer than the oldest librdkafka the project accepts; only delete_records needs it.
_OPTIONAL_SYMBOLS = frozenset({"rd_kafka_mock_partition_delete_records"})


class EmbeddedKafkaError(RuntimeError):
    """The embedded Kafka could not be loaded, started or asked to do something."""


class TopicConflictError(EmbeddedKafkaError):
    """A topic already exists with a different partition count than requested."""


def find_librdkafka() -> Path:
    """Locate the librdkafka shared library that confluent-kafka itself loads.

    Using the very same file keeps the mock broker's protocol version in step with the
    clients, and means nothing beyond the confluent-kafka wheel has to be installed.
    """
    spec = importlib.util.find_spec("confluent_kafka")
    if spec is None or spec.origin is None:
        raise EmbeddedKafkaError(
            "the confluent-kafka package is not installed; install the project "
            "dependencies (uv sync) to use the embedded Kafka"
        )
    package_dir = Path(spec.origin).parent
    candidates = [
        # Linux wheels (auditwheel) put vendored libraries next to the package.
        *sorted(package_dir.parent.glob("confluent_kafka.libs/librdkafka*.so*")),
        # macOS wheels (delocate) put them inside it.
        *sorted(package_dir.glob(".dylibs/librdkafka*.dylib")),
    ]
    if candidates:
        return candidates[0]
    system = ctypes.util.find_library("rdkafka")
    if system is not None:
        return Path(system)
    raise EmbeddedKafkaError(
        f"no librdkafka shared library found next to {package_dir} nor on the system; "
        "reinstall confluent-kafka from its binary wheel, or set KAFKA_BOOTSTRAP_SERVERS "
        "to a real Kafka instead of using the embedded one"
    )


def _bind(library: ctypes.CDLL, path: Path) -> ctypes.CDLL:
    """Declare the C signatures once; without them ctypes truncates pointers to int."""
    p, c_int, c_str = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p
    signatures: dict[str, tuple[type | None, list[type]]] = {
        "rd_kafka_conf_new": (p, []),
        "rd_kafka_conf_destroy": (None, [p]),
        "rd_kafka_conf_set": (c_int, [p, c_str, c_str, c_str, ctypes.c_size_t]),
        "rd_kafka_new": (p, [c_int, p, c_str, ctypes.c_size_t]),
        "rd_kafka_destroy": (None, [p]),
        "rd_kafka_err2str": (c_str, [c_int]),
        "rd_kafka_mock_cluster_new": (p, [p, c_int]),
        "rd_kafka_mock_cluster_destroy": (None, [p]),
        "rd_kafka_mock_cluster_bootstraps": (c_str, [p]),
        "rd_kafka_mock_topic_create": (c_int, [p, c_str, c_int, c_int]),
        "rd_kafka_mock_partition_delete_records": (
            c_int,
            [p, c_str, ctypes.c_int32, ctypes.c_int64],
        ),
        "rd_kafka_mock_group_initial_rebalance_delay_ms": (None, [p, ctypes.c_int32]),
        # Fault injection, for tests of how ingestion meets broker trouble.
        "rd_kafka_mock_broker_set_down": (c_int, [p, ctypes.c_int32]),
        "rd_kafka_mock_broker_set_up": (c_int, [p, ctypes.c_int32]),
        "rd_kafka_mock_broker_set_rtt": (c_int, [p, ctypes.c_int32, c_int]),
        "rd_kafka_mock_partition_set_leader": (c_int, [p, c_str, ctypes.c_int32, ctypes.c_int32]),
        "rd_kafka_mock_push_request_errors_array": (
            None,
            [p, ctypes.c_int16, ctypes.c_size_t, ctypes.POINTER(c_int)],
        ),
    }
    for name, (restype, argtypes) in signatures.items():
        try:
            function = getattr(library, name)
        except AttributeError:
            if name in _OPTIONAL_SYMBOLS:
                continue
            raise EmbeddedKafkaError(
                f"{path} does not export {name}; it is too old or built without "
                "the mock cluster. Use the librdkafka bundled with confluent-kafka >= 2.6."
            ) from None
        function.restype = restype
        function.argtypes = argtypes
    return library


class EmbeddedKafka:
    """A Kafka broker living inside this process, reachable by any local process.

    Use as a context manager (`with EmbeddedKafka() as kafka: kafka.bootstrap_servers`)
    or call `start()` / `stop()`. Topics are created explicitly with the partition
    count asked for: the admin API's CreateTopics is not implemented by the mock, and
    auto-created topics get only 4 partitions, which the mock's retention makes small.
    """

    def __init__(
        self,
        num_brokers: int = 1,
        *,
        group_initial_rebalance_delay_ms: int = 0,
        library_path: Path | None = None,
    ) -> None:
        if num_brokers < 1:
            raise ValueError(f"num_brokers must be at least 1, got {num_brokers}")
        self._num_brokers = num_brokers
        # Kafka's default (3 s) only helps real clusters gather members; here it would
        # make every group-subscribing consumer wait 3 s for nothing.
        self._rebalance_delay_ms = group_initial_rebalance_delay_ms
        self._library_path = library_path
        self._lib: ctypes.CDLL | None = None
        self._rk: int | None = None
        self._cluster: int | None = None
        self._bootstrap_servers: str | None = None

    def start(self) -> str:
        """Start the mock cluster (idempotent); returns its "127.0.0.1:PORT" list."""
        if self._bootstrap_servers is not None:
            return self._bootstrap_servers
        path = self._library_path or find_librdkafka()
        try:
            lib = _bind(ctypes.CDLL(str(path)), path)
        except OSError as exc:
            raise EmbeddedKafkaError(f"cannot load librdkafka from {path}: {exc}") from exc

        conf = lib.rd_kafka_conf_new()
        errstr = ctypes.create_string_buffer(_ERRSTR_SIZE)
        # This handle only owns the mock cluster and never connects anywhere; level 4
        # hides its "no bootstrap.servers configured" notice while keeping warnings.
        if lib.rd_kafka_conf_set(conf, b"log_level", b"4", errstr, _ERRSTR_SIZE) != (
            _RD_KAFKA_CONF_OK
        ):
            lib.rd_kafka_conf_destroy(conf)
            raise EmbeddedKafkaError(f"librdkafka rejected log_level: {errstr.value.decode()}")
        rk = lib.rd_kafka_new(_RD_KAFKA_PRODUCER, conf, errstr, _ERRSTR_SIZE)
        if not rk:
            # rd_kafka_new takes ownership of conf only when it succeeds.
            lib.rd_kafka_conf_destroy(conf)
            raise EmbeddedKafkaError(
                f"librdkafka could not create the handle owning the mock cluster: "
                f"{errstr.value.decode()}"
            )
        cluster = lib.rd_kafka_mock_cluster_new(rk, self._num_brokers)
        if not cluster:
            lib.rd_kafka_destroy(rk)
            raise EmbeddedKafkaError(
                "librdkafka could not start the mock cluster (it listens on a free "
                "127.0.0.1 port: is the loopback interface up?)"
            )
        lib.rd_kafka_mock_group_initial_rebalance_delay_ms(cluster, self._rebalance_delay_ms)
        self._lib, self._rk, self._cluster = lib, rk, cluster
        self._bootstrap_servers = lib.rd_kafka_mock_cluster_bootstraps(cluster).decode()
        return self._bootstrap_servers

    @property
    def bootstrap_servers(self) -> str:
        if self._bootstrap_servers is None:
            raise EmbeddedKafkaError("the embedded Kafka is not running; call start() first")
        return self._bootstrap_servers

    @property
    def running(self) -> bool:
        return self._bootstrap_servers is not None

    def _require_cluster(self) -> tuple[ctypes.CDLL, int]:
        if self._lib is None or self._cluster is None:
            raise EmbeddedKafkaError("the embedded Kafka is not running; call start() first")
        return self._lib, self._cluster

    def _error_text(self, code: int) -> str:
        lib, _ = self._require_cluster()
        return lib.rd_kafka_err2str(code).decode()

    def create_topic(self, name: str, partitions: int) -> None:
        """Create `name` with `partitions` partitions; a no-op if it already has them.

        Raises TopicConflictError when the topic exists with another partition count
        (the mock cannot add partitions, so the caller must pick another name or
        restart the embedded Kafka).
        """
        if partitions < 1:
            raise ValueError(f"a topic needs at least 1 partition, got {partitions} for {name!r}")
        lib, cluster = self._require_cluster()
        err = lib.rd_kafka_mock_topic_create(cluster, name.encode(), partitions, 1)
        if err == _ERR_TOPIC_ALREADY_EXISTS:
            existing = self.partition_count(name)
            if existing != partitions:
                raise TopicConflictError(
                    f"topic {name!r} already exists with {existing} partitions, not "
                    f"{partitions}; the embedded Kafka cannot repartition a topic, so "
                    "restart it (its data lives only in this process) or use another name"
                )
            return
        if err:
            raise EmbeddedKafkaError(
                f"creating topic {name!r} with {partitions} partitions failed: "
                f"{self._error_text(err)}"
            )

    def create_topics(self, names: Iterable[str], partitions: int) -> None:
        """Create every topic in `names` with the same partition count."""
        for name in names:
            self.create_topic(name, partitions)

    def partition_count(self, topic: str, timeout: float = 5.0) -> int:
        """The topic's partition count as the broker reports it in metadata."""
        # A producer's metadata request would otherwise auto-create a missing topic.
        client = Producer(
            {"bootstrap.servers": self.bootstrap_servers, "allow.auto.create.topics": False}
        )
        metadata = client.list_topics(topic, timeout=timeout)
        found = metadata.topics.get(topic)
        if found is None or found.error is not None:
            raise EmbeddedKafkaError(
                f"topic {topic!r} is not known to the embedded Kafka: "
                f"{found.error if found is not None else 'absent from metadata'}"
            )
        return len(found.partitions)

    def delete_records(self, topic: str, partition: int, before_offset: int) -> None:
        """Drop a partition's records below `before_offset`, moving its low watermark.

        This is what retention does to a real broker, on demand and at an exact offset,
        for tests and demos of the truncation path.
        """
        lib, cluster = self._require_cluster()
        if not hasattr(lib, "rd_kafka_mock_partition_delete_records"):
            raise EmbeddedKafkaError(
                "this librdkafka cannot delete records from the mock cluster; upgrade "
                "confluent-kafka (the 2.16 wheel has it)"
            )
        err = lib.rd_kafka_mock_partition_delete_records(
            cluster, topic.encode(), partition, before_offset
        )
        if err:
            raise EmbeddedKafkaError(
                f"deleting records of {topic} [{partition}] before offset {before_offset} "
                f"failed: {self._error_text(err)} (the offset must lie within the partition's "
                "current low and high watermarks)"
            )

    # -- fault injection ---------------------------------------------------------------
    # Brokers are numbered 1..num_brokers. Like the other control calls these hand the
    # change to the mock's thread; it applies to requests from then on.

    def _check(self, err: int, what: str) -> None:
        if err:
            raise EmbeddedKafkaError(f"{what} failed: {self._error_text(err)}")

    def broker_set_down(self, broker_id: int) -> None:
        """Stop broker `broker_id` answering: its connections close and new ones are
        refused (what clients see of a crashed broker). Its partitions keep it as leader
        until `partition_set_leader` moves them, as a real cluster's election would."""
        lib, cluster = self._require_cluster()
        self._check(lib.rd_kafka_mock_broker_set_down(cluster, broker_id), "broker_set_down")

    def broker_set_up(self, broker_id: int) -> None:
        """Let broker `broker_id` answer again after `broker_set_down`."""
        lib, cluster = self._require_cluster()
        self._check(lib.rd_kafka_mock_broker_set_up(cluster, broker_id), "broker_set_up")

    def broker_set_rtt(self, broker_id: int, rtt_ms: int) -> None:
        """Delay every response of broker `broker_id` by `rtt_ms` (a distant broker)."""
        lib, cluster = self._require_cluster()
        self._check(lib.rd_kafka_mock_broker_set_rtt(cluster, broker_id, rtt_ms), "broker_set_rtt")

    def partition_set_leader(self, topic: str, partition: int, broker_id: int) -> None:
        """Make `broker_id` the leader of a partition (a leader election)."""
        lib, cluster = self._require_cluster()
        self._check(
            lib.rd_kafka_mock_partition_set_leader(cluster, topic.encode(), partition, broker_id),
            "partition_set_leader",
        )

    def push_request_errors(self, api_key: int, errors: Sequence[int]) -> None:
        """Answer the next len(errors) requests of Kafka API `api_key` (any broker, any
        client) with these error codes in turn, e.g. `LIST_OFFSETS` with
        `KafkaError.LEADER_NOT_AVAILABLE`."""
        lib, cluster = self._require_cluster()
        codes = (ctypes.c_int * len(errors))(*errors)
        lib.rd_kafka_mock_push_request_errors_array(cluster, api_key, len(errors), codes)

    def stop(self) -> None:
        """Destroy the cluster and its data (idempotent); connected clients get errors."""
        if self._lib is not None:
            if self._cluster is not None:
                self._lib.rd_kafka_mock_cluster_destroy(self._cluster)
            if self._rk is not None:
                self._lib.rd_kafka_destroy(self._rk)
        self._lib = self._rk = self._cluster = None
        self._bootstrap_servers = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self._bootstrap_servers or "stopped"
        return f"EmbeddedKafka({state})"
