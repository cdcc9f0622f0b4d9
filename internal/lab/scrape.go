package lab

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// scrapeTimeout bounds a whole Scrape: connecting, the request and reading
// the exposition.
const scrapeTimeout = 3 * time.Second

// Scrape fetches http://addr/metrics from inside h's network namespace and
// returns the exposition text. addr is host:port as h sees it, usually the
// loopback address a daemon in h serves its metrics on, which nothing
// outside h reaches. An answer other than 200 OK is an error, and Scrape
// gives up after 3 seconds. It uses no proxy and no keep-alive connection,
// so nothing of it outlives the call.
func (h *Host) Scrape(addr string) (string, error) {
	text, err := scrape(h.Do, addr)
	if err != nil {
		return "", fmt.Errorf("scraping /metrics in %s: %w", h.name, err)
	}
	return text, nil
}

// scrape fetches http://addr/metrics, dialling inside do (Host.Do, or a
// plain call in tests).
func scrape(do func(func() error) error, addr string) (string, error) {
	client := &http.Client{
		Timeout: scrapeTimeout,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				var c net.Conn
				err := do(func() error {
					var err error
					c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
					return err
				})
				return c, err
			},
			DisableKeepAlives: true,
			Proxy:             nil, // never an environment proxy: the target is in the lab
		},
	}
	url := "http://" + addr + "/metrics"
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", url, err)
	}
	return string(b), nil
}
