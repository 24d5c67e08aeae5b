"""The portal's kit: what every app (and the integrations) builds on.

- queues: queue names, `wake` / `wake_after_commit` (never raise: a broker that is down does
  not fail a request whose work a row records) and `dispatch_and_wait` (broker-safe).
- work: the one backoff, claim and due-work hand-out of every row of work in flight.
- schedules: the one table of beat entries. heartbeats: a worker's proof of life per queue.
- mail: outgoing mail, one function per message, sent by a worker with a timeout.
- results (a report as a task result), retention (the one batched delete of old rows), bootstrap, pagination, validators, sensitive (admin
  forms with secrets), server_address (who may move a server's address), view_only and
  admin_pages (admin building blocks), reachability (the slot connectivity fills so that a
  server's "Test connection" gets its probe, diagnosis and finder).

The integrations import nothing else of `portal` (with `portal.crypto`). Code a feature shares
with an integration (a server's health checks, an alert) lives in the feature app, which
reads the integration's rows and calls its services; an integration never imports a feature.
"""
