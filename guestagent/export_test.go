package guestagent

import "time"

// SetPollIntervals shortens Wait's polling for tests.
func SetPollIntervals(c *Client, min, max time.Duration) {
	c.pollMin, c.pollMax = min, max
}
