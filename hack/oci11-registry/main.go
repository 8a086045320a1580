// oci11-registry: an OCI 1.1 registry with the referrers API (GET /v2/<repo>/referrers/<digest>)
// for kubectl-release's end-to-end tests, started by hack/stack and by
// tests/stack/src/registry.rs (Registry::start_oci11).
//
// Why it exists: the stack's registry (Debian's docker-registry, distribution 2.8) has no
// referrers API, and zot cannot be downloaded here (the Go module proxy refuses its host). This is
// go-containerregistry's registry (pkg/registry, only the standard library below it), which
// hack/stack builds from the module cache; this file is the only code of ours. It adds two things
// the OCI 1.1 distribution spec asks for and pkg/registry v0.22.1 lacks: a referrers descriptor
// carries the manifest's own `artifactType` (upstream takes config.mediaType, so an artifact with
// an empty config would be listed as `application/vnd.oci.empty.v1+json`) with the optional
// `artifactType` filter, and a manifest PUT with a subject answers `OCI-Subject`.
//
// Not supported (upstream): auth, cross-repository mounts (POST ?mount= opens an upload, 202; blobs
// are shared by all repositories anyway, so a HEAD in any repository finds every blob), deleting
// upload sessions, persistence of manifests (always in memory; -blobs keeps only blobs on disk).
//
// Usage: oci11-registry [-port N] [-blobs DIR]. Listens on 127.0.0.1 only; the first line on stdout
// is the address (127.0.0.1:PORT), so -port 0 lets a launcher read the port the kernel chose.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func main() {
	port := flag.Int("port", 0, "port on 127.0.0.1; 0 chooses a free one")
	blobs := flag.String("blobs", "", "directory for blobs; empty keeps them in memory")
	flag.Parse()
	opts := []registry.Option{registry.WithReferrersSupport(true)}
	if *blobs != "" {
		if err := os.MkdirAll(*blobs, 0o755); err != nil {
			log.Fatal(err)
		}
		opts = append(opts, registry.WithBlobHandler(registry.NewDiskBlobHandler(*blobs)))
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(l.Addr())
	log.Fatal(http.Serve(l, oci11{registry.New(opts...)}))
}

type oci11 struct{ next http.Handler }

// route splits /v2/<repo>/<kind>/<ref>.
func route(path, kind string) (repo, ref string, ok bool) {
	rest, found := strings.CutPrefix(path, "/v2/")
	i := strings.LastIndex(rest, "/"+kind+"/")
	if !found || i <= 0 || strings.Contains(rest[i+len(kind)+2:], "/") {
		return "", "", false
	}
	return rest[:i], rest[i+len(kind)+2:], true
}

func (h oci11) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if repo, _, ok := route(r.URL.Path, "referrers"); ok && r.Method == http.MethodGet {
		h.referrers(w, r, repo)
		return
	}
	if _, _, ok := route(r.URL.Path, "manifests"); ok && r.Method == http.MethodPut {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var m struct{ Subject *struct{ Digest string } }
		if json.Unmarshal(body, &m) == nil && m.Subject != nil && m.Subject.Digest != "" {
			w = subjectWriter{w, m.Subject.Digest}
		}
	}
	h.next.ServeHTTP(w, r)
}

type subjectWriter struct {
	http.ResponseWriter
	subject string
}

func (w subjectWriter) WriteHeader(code int) {
	if code == http.StatusCreated {
		w.Header().Set("OCI-Subject", w.subject)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (h oci11) referrers(w http.ResponseWriter, r *http.Request, repo string) {
	rec := httptest.NewRecorder()
	h.next.ServeHTTP(rec, r)
	var index v1.IndexManifest
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &index) != nil {
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
		return
	}
	want := r.URL.Query().Get("artifactType")
	kept := []v1.Descriptor{}
	for _, d := range index.Manifests {
		m := httptest.NewRecorder()
		h.next.ServeHTTP(m, httptest.NewRequest(http.MethodGet, "/v2/"+repo+"/manifests/"+d.Digest.String(), nil))
		var own struct{ ArtifactType string }
		if json.Unmarshal(m.Body.Bytes(), &own) == nil && own.ArtifactType != "" {
			d.ArtifactType = own.ArtifactType
		}
		if want == "" || d.ArtifactType == want {
			kept = append(kept, d)
		}
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].Digest.String() < kept[j].Digest.String() })
	index.Manifests = kept
	body, _ := json.Marshal(index)
	if want != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	w.Header().Set("Content-Type", "application/vnd.oci.image.index.v1+json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}
