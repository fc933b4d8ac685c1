// Package exporter turns checker results into what operators watch: a
// per-VM history (consecutive failures, since when the current state holds,
// "down only after N failed rounds"), Prometheus metrics built in one place
// by a Collector over the latest snapshot, the node_exporter textfile, the
// status page, and the two ways of running rounds: Cron (cron.go) is one
// round of `vmcheck cron` — check, record, write the textfile, log a line
// per VM — and Server (serve.go) is `vmcheck serve`, whose Runner
// (runner.go) keeps the snapshot fresh from domain events and periodic
// rounds. The Runner's scheduler (scheduler.go) decides what to check when
// and takes the time as an argument; the Runner does the I/O around it.
//
// A scrape never talks to a guest: every handler reads the latest immutable
// Snapshot of the History.
package exporter
