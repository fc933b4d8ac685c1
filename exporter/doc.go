// Package exporter turns checker results into what operators watch. It
// holds no code of its own: each job is a package below it, and none
// imports upwards.
//
//   - labels: label values — sanitised, canonical, within each domain's
//     label budget.
//   - history: the per-VM History (consecutive failures, since when the
//     state holds, "down only after N failed rounds"), its immutable
//     Snapshot, the state file's format, the agent-exchange Recorder.
//   - metrics: the Collector, the one place vmcheck's metrics are built,
//     and the cached /metrics Handler.
//   - schedule: the Runner of `vmcheck serve`, which keeps the History
//     fresh from domain events and periodic rounds, and its scheduler,
//     which decides what to check when and takes the time as an argument.
//   - cron: one run of `vmcheck cron` (Job) — check, record, write the
//     node_exporter textfile, log a line per VM — and the state file.
//   - web: the status pages, the JSON API, page access, connection limits
//     and the Server of `vmcheck serve`.
//
// A scrape never talks to a guest: every handler reads the latest immutable
// Snapshot of the History.
package exporter
