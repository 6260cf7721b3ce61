"""Every default constant in one place, each with the reason for its value."""

from __future__ import annotations

# The web server binds to loopback unless told otherwise: a fresh studio must not be
# reachable from the network before anyone set up authentication.
HOST = "127.0.0.1"
# 8642: free on common developer machines (8888 is Jupyter, 8000/8080 are everyone's).
PORT = 8642

# Name of the folder inside a workspace holding the catalog, the event log and artefacts.
DATA_DIR = ".studio"
# File at the root of a workspace holding its settings (projects, keys location, ...).
WORKSPACE_FILE = "studio.toml"
# Name of the project `studio init` creates from notebooks/.
EXAMPLES_PROJECT = "examples"

# A run with no `timeout` in its manifest may still not hold an executor forever.
RUN_TIMEOUT_SECONDS = 3600.0
# Output a single run may print before it is stopped: enough for any report, small
# enough that a `while True: print()` cannot exhaust memory or disk.
MAX_OUTPUT_BYTES = 5 * 1024 * 1024

# How long an executor's claim on a running execution lasts without renewal, and how
# often it is renewed. Three renewals fit in one lease, so one slow beat is not fatal.
LEASE_SECONDS = 30.0
LEASE_RENEW_SECONDS = 10.0
# How often a running execution's executor reads its row (cancel requested? still ours?):
# a cancel or a stolen lease stops the run within this.
LEASE_CHECK_SECONDS = 0.25
# On SIGTERM an executor lets its runs finish for this long, then stops them and hands them
# back (lost + retried at once) rather than leaving them to expire: 10 s fits inside the
# 30 s a container orchestrator usually waits before SIGKILL.
EXECUTOR_SHUTDOWN_GRACE_SECONDS = 10.0
# How often an idle executor looks for pending executions when nothing woke it (kept for
# callers of the old name; the executor role now waits on the studio.executions doorbell).
POLL_SECONDS = 0.5
# With a doorbell on the bus for every pending execution, the catalog poll is only a fallback:
# delayed retries (not_before) and doorbells lost between commit and publish. 2 s bounds the
# extra delay of those, at one indexed query per executor every 2 s.
EXECUTOR_POLL_SECONDS = 2.0
# The reaper looks for expired leases this often at most (and at least once per third of a
# lease), so a killed executor's run is marked lost within lease + this.
REAP_SECONDS = 5.0

# How many executions one executor role runs at once by default. Two cores here; a
# notebook kernel is CPU-bound, so more than the core count only adds contention.
EXECUTOR_CONCURRENCY = 2

# Largest event or webhook body accepted (413 above it). 1 MiB is far beyond any
# sensible event; big data belongs in the artefact store, referenced by the event.
MAX_EVENT_BYTES = 1024 * 1024
# Largest file a form or the REST API may upload (413 above it). Data files for a report, not
# a data lake: bigger inputs belong in a database or object store the notebook reads.
MAX_UPLOAD_BYTES = 100 * 1024 * 1024
# Hops an event chain may make through mappings before it is cut as a loop.
MAX_MAPPING_HOPS = 16

# Samples kept per event type for schema inference and for the catalog's "recent sample".
EVENT_SAMPLES_KEPT = 20

# Page size of every list in the CLI, API and dashboard: big lists never load whole.
PAGE_SIZE = 50
