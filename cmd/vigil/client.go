package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/vigil-lb/vigil/actuator"
)

// apiClient talks to a running vigil's HTTP API, for the operator commands.
type apiClient struct {
	url          *string
	tokenFile    *string
	username     *string
	passwordFile *string
	caFile       *string
	insecure     *bool
	timeout      *time.Duration
}

func addAPIFlags(cmd *kingpin.CmdClause) *apiClient {
	return &apiClient{
		url:          cmd.Flag("api.url", "Base URL of the vigil daemon's web listener.").Default("http://127.0.0.1:9650").String(),
		tokenFile:    cmd.Flag("api.token-file", "File holding the bearer token the daemon's actuator requires.").Default("").String(),
		username:     cmd.Flag("api.username", "Basic auth user, when --web.config.file enables basic auth.").Default("").String(),
		passwordFile: cmd.Flag("api.password-file", "File holding the basic auth password.").Default("").String(),
		caFile:       cmd.Flag("api.ca-file", "CA certificate to verify the daemon's TLS certificate.").Default("").String(),
		insecure:     cmd.Flag("api.insecure-skip-verify", "Do not verify the daemon's TLS certificate.").Bool(),
		timeout:      cmd.Flag("api.timeout", "Timeout of each request.").Default("10s").Duration(),
	}
}

func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// do sends a request with a JSON body (nil for none) and decodes a JSON
// answer into out (nil to ignore it). A non-2xx answer is an error carrying
// the daemon's message.
func (c *apiClient) do(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(*c.url, "/")+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set(actuator.HeaderSource, "cli")
	if u := os.Getenv("SUDO_USER"); u != "" {
		req.Header.Set(actuator.HeaderUser, u)
	} else if u := os.Getenv("USER"); u != "" {
		req.Header.Set(actuator.HeaderUser, u)
	}
	if *c.tokenFile != "" {
		tok, err := readSecret(*c.tokenFile)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if *c.username != "" {
		pw := ""
		if *c.passwordFile != "" {
			if pw, err = readSecret(*c.passwordFile); err != nil {
				return err
			}
		}
		req.SetBasicAuth(*c.username, pw)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: *c.insecure}
	if *c.caFile != "" {
		pem, err := os.ReadFile(*c.caFile)
		if err != nil {
			return fmt.Errorf("reading %s: %w", *c.caFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s: no PEM certificate found", *c.caFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return fmt.Errorf("contacting vigil at %s: %w", *c.url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
		}
	}
	return nil
}
