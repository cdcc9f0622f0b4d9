package actuator

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// authorized reports whether r carries the configured bearer token. The
// comparison is constant-time (over digests, so the token's length does not
// leak either). Without a token nothing is authorized, unless the
// configuration disabled authentication.
func authorized(cfg *compiled, r *http.Request) bool {
	if cfg.noAuth {
		return true
	}
	if cfg.token == nil {
		return false
	}
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	want := sha256.Sum256(cfg.token)
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="vigil"`)
	textResponse(w, http.StatusUnauthorized, "unauthorized\n")
}
