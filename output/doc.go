// Package output turns checker results into what vmcheck shows at its edge:
// the check and domains tables (colour on a terminal), the JSON report,
// the Nagios exit code, the structured fields of a log line, and the one
// rendering of probe and OS text that the tables, the status page and the
// cron log share. It holds no state and talks to no host.
package output
