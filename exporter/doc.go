// Package exporter turns checker results into what operators watch: a
// per-VM history (consecutive failures, since when the current state holds,
// "down only after N failed rounds"), Prometheus metrics built in one place
// by a Collector over the latest snapshot, the node_exporter textfile that
// cron mode writes, the status page, and the Runner behind `vmcheck serve`
// that keeps the snapshot fresh from libvirt events and periodic rounds.
//
// A scrape never talks to a guest: every handler reads the latest immutable
// Snapshot of the History.
package exporter
