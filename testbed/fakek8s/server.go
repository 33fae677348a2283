// Package fakek8s is a tiny fake Kubernetes API server for tests: just enough
// of the API for the k8s_attributes processor (client-go informers, auth_type
// kubeConfig) to learn pods and namespaces, with no cluster.
//
// It serves, as JSON:
//
//   - list and watch of pods (typed client: core/v1 PodList / Pod events),
//     cluster-wide (/api/v1/pods) and per namespace
//     (/api/v1/namespaces/{ns}/pods);
//   - list and watch of namespaces as metadata-only objects
//     (PartialObjectMetadataList / PartialObjectMetadata, what client-go's
//     metadata client asks for), or as core/v1 NamespaceList for a typed
//     client;
//   - list and watch of nodes, replicasets, deployments, statefulsets,
//     daemonsets, jobs and cronjobs as empty (or, for nodes, added) metadata
//     lists, so any k8s_attributes extract configuration starts;
//   - /version.
//
// Watches support both of client-go's modes: the streaming list
// (sendInitialEvents=true: ADDED events, then a BOOKMARK annotated
// k8s.io/initial-events-end, WatchListClient is on by default in client-go
// v0.37) and the classic list-then-watch from a resourceVersion. Changes made
// with AddPod/AddNamespace/DeletePod after start are streamed to open
// watches. Label and field selectors are honoured for equality terms
// (k=v, k==v, k!=v); other selector syntax is ignored.
//
// Use from a test that runs the collector binary as a child process:
//
//	k8s := fakek8s.New()
//	t.Cleanup(k8s.Close) // after the collector has stopped
//	k8s.AddNamespace(fakek8s.Namespace{Name: "team-a", Labels: map[string]string{"platform.example.com/team": "alpha"}})
//	k8s.AddPod(fakek8s.Pod{Namespace: "team-a", Name: "app-a", IP: "127.0.0.2"})
//	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
//	require.NoError(t, k8s.WriteKubeconfig(kubeconfig))
//	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig) // k8s_attributes: auth_type kubeConfig
//
// and send OTLP from 127.0.0.2 (bind the client's local address, e.g. a
// net.Dialer with LocalAddr) so pod_association `from: connection` finds the
// pod. With wait_for_metadata: true the collector starts only once pods and
// namespaces are synced. k8s_attributes v1.0.0 asks for exactly two things
// with an extract config of metadata + namespace labels: a streaming list
// (watch with sendInitialEvents=true) of /api/v1/pods and of
// /api/v1/namespaces (metadata-only); see TestK8sAttributesWithFakeServer.
//
// The package is test support only: it has no main and is not part of the
// distribution.
package fakek8s // import "github.com/otelcol-mesh/otelcol-mesh/testbed/fakek8s"

import (
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Pod is a pod as the fake API server reports it.
type Pod struct {
	Namespace string
	Name      string
	// UID defaults to "uid-<namespace>-<name>".
	UID string
	// IP is status.podIP, what k8s_attributes matches the connection's
	// source address against.
	IP       string
	NodeName string
	Labels   map[string]string
	// HostNetwork pods are not associated by IP (k8s_attributes skips them).
	HostNetwork bool
}

// Namespace is a namespace as the fake API server reports it.
type Namespace struct {
	Name string
	// UID defaults to "uid-ns-<name>".
	UID    string
	Labels map[string]string
}

// Node is a node as the fake API server reports it (metadata only).
type Node struct {
	Name   string
	UID    string
	Labels map[string]string
}

// Option configures a Server.
type Option func(*Server)

// WithTLS serves HTTPS with the httptest certificate; the kubeconfig written
// by WriteKubeconfig then carries that certificate as its CA.
func WithTLS() Option { return func(s *Server) { s.tls = true } }

// WithToken makes the server require "Authorization: Bearer <token>" (the
// kubeconfig carries it). Without it, any or no token is accepted. Combine
// it with WithTLS: client-go (clientcmd) drops a kubeconfig's credentials
// for an http:// server, so over plain HTTP no token is ever sent.
func WithToken(token string) Option { return func(s *Server) { s.token = token } }

type resourceKind int

const (
	kindPod resourceKind = iota
	kindNamespace
	kindNode
	kindOther // served empty
)

type event struct {
	rv   int64
	kind resourceKind
	typ  string // ADDED, MODIFIED, DELETED
	ns   string // namespace of a namespaced object
	obj  any    // *corev1.Pod, *Namespace or *Node snapshot
}

// Server is a running fake API server. Create it with New and stop it with
// Close.
type Server struct {
	tls   bool
	token string
	srv   *httptest.Server

	mu         sync.Mutex
	rv         int64
	pods       map[string]*corev1.Pod // key ns/name
	namespaces map[string]*Namespace
	nodes      map[string]*Node
	log        []event
	changed    chan struct{} // closed and replaced on every change
	requests   []string
	done       chan struct{}
	closeOnce  sync.Once
}

// New starts a fake API server on 127.0.0.1 with a random port.
func New(opts ...Option) *Server {
	s := &Server{
		rv:         1,
		pods:       map[string]*corev1.Pod{},
		namespaces: map[string]*Namespace{},
		nodes:      map[string]*Node{},
		changed:    make(chan struct{}),
		done:       make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	h := http.HandlerFunc(s.serve)
	if s.tls {
		s.srv = httptest.NewTLSServer(h)
	} else {
		s.srv = httptest.NewServer(h)
	}
	return s
}

// URL is the server's base URL (http:// or https://127.0.0.1:port).
func (s *Server) URL() string { return s.srv.URL }

// Close ends every open watch, then shuts the server down. Stop the clients
// (e.g. the processor's Shutdown) first; Close also works if they are still
// running, they then see their watches end.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.srv.CloseClientConnections()
		s.srv.Close()
	})
}

// Requests returns the "METHOD path?query" of every request served so far,
// in order. Useful to see what a client needed.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// AddPod adds or replaces a pod and streams the change to open pod watches.
func (s *Server) AddPod(p Pod) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rv++
	key := p.Namespace + "/" + p.Name
	typ := "ADDED"
	if _, ok := s.pods[key]; ok {
		typ = "MODIFIED"
	}
	pod := apiPod(p, s.rv)
	s.pods[key] = pod
	s.record(event{rv: s.rv, kind: kindPod, typ: typ, ns: p.Namespace, obj: pod.DeepCopy()})
}

// DeletePod removes a pod and streams the deletion to open pod watches.
func (s *Server) DeletePod(namespace, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := namespace + "/" + name
	pod, ok := s.pods[key]
	if !ok {
		return
	}
	delete(s.pods, key)
	s.rv++
	gone := pod.DeepCopy()
	gone.ResourceVersion = strconv.FormatInt(s.rv, 10)
	s.record(event{rv: s.rv, kind: kindPod, typ: "DELETED", ns: namespace, obj: gone})
}

// AddNamespace adds or replaces a namespace and streams the change.
func (s *Server) AddNamespace(n Namespace) {
	if n.UID == "" {
		n.UID = "uid-ns-" + n.Name
	}
	n.Labels = cloneMap(n.Labels)
	s.mu.Lock()
	defer s.mu.Unlock()
	upsert(s, s.namespaces, n.Name, n, kindNamespace)
}

// AddNode adds or replaces a node (served as metadata) and streams the change.
func (s *Server) AddNode(n Node) {
	if n.UID == "" {
		n.UID = "uid-node-" + n.Name
	}
	n.Labels = cloneMap(n.Labels)
	s.mu.Lock()
	defer s.mu.Unlock()
	upsert(s, s.nodes, n.Name, n, kindNode)
}

// upsert stores a cluster-scoped object and records the change. s.mu must
// be held.
func upsert[T any](s *Server, store map[string]*T, name string, obj T, kind resourceKind) {
	typ := "ADDED"
	if _, ok := store[name]; ok {
		typ = "MODIFIED"
	}
	store[name] = &obj
	snap := obj
	s.rv++
	s.record(event{rv: s.rv, kind: kind, typ: typ, obj: &snap})
}

// record appends an event and wakes the watches. s.mu must be held.
func (s *Server) record(e event) {
	s.log = append(s.log, e)
	close(s.changed)
	s.changed = make(chan struct{})
}

// WriteKubeconfig writes a kubeconfig for this server to path (mode 0600):
// one cluster, context and user named "fakek8s", current-context set, the
// httptest certificate as CA when serving TLS, and the token if any.
func (s *Server) WriteKubeconfig(path string) error {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Config\nclusters:\n- name: fakek8s\n  cluster:\n")
	fmt.Fprintf(&b, "    server: %s\n", s.srv.URL)
	if s.tls {
		caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
		fmt.Fprintf(&b, "    certificate-authority-data: %s\n", base64.StdEncoding.EncodeToString(caPEM))
	}
	b.WriteString("contexts:\n- name: fakek8s\n  context:\n    cluster: fakek8s\n    user: fakek8s\n")
	b.WriteString("current-context: fakek8s\nusers:\n- name: fakek8s\n  user:\n")
	token := s.token
	if token == "" {
		token = "fakek8s-token"
	}
	fmt.Fprintf(&b, "    token: %s\n", token)
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

func apiPod(p Pod, rv int64) *corev1.Pod {
	uid := p.UID
	if uid == "" {
		uid = "uid-" + p.Namespace + "-" + p.Name
	}
	start := metav1.NewTime(time.Unix(1700000000, 0).UTC())
	pod := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{
			Name:              p.Name,
			Namespace:         p.Namespace,
			UID:               types.UID(uid),
			Labels:            cloneMap(p.Labels),
			ResourceVersion:   strconv.FormatInt(rv, 10),
			CreationTimestamp: start,
		},
		Spec: corev1.PodSpec{
			NodeName:    p.NodeName,
			HostNetwork: p.HostNetwork,
			Containers:  []corev1.Container{{Name: "app", Image: "example.com/app:1.0"}},
		},
		Status: corev1.PodStatus{
			Phase:     corev1.PodRunning,
			PodIP:     p.IP,
			StartTime: &start,
		},
	}
	if p.IP != "" {
		pod.Status.PodIPs = []corev1.PodIP{{IP: p.IP}}
	}
	return pod
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// route is a parsed API path.
type route struct {
	kind      resourceKind
	namespace string // "" = all namespaces (or cluster-scoped)
	resource  string
	group     string // "" for core, e.g. "apps"
	version   string
}

// otherResources are served as empty lists, so any extract configuration of
// k8s_attributes can start (it only lists them when configured to).
var otherResources = map[string]string{
	"replicasets":  "apps/v1",
	"deployments":  "apps/v1",
	"statefulsets": "apps/v1",
	"daemonsets":   "apps/v1",
	"jobs":         "batch/v1",
	"cronjobs":     "batch/v1",
}

func parseRoute(path string) (route, bool) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	var r route
	switch {
	case len(parts) >= 3 && parts[0] == "api" && parts[1] == "v1":
		r.version = "v1"
		parts = parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		r.group, r.version = parts[1], parts[2]
		parts = parts[3:]
	default:
		return r, false
	}
	if len(parts) == 3 && parts[0] == "namespaces" {
		r.namespace = parts[1]
		parts = parts[2:]
	}
	if len(parts) != 1 {
		return r, false
	}
	r.resource = parts[0]
	switch {
	case r.group == "" && r.resource == "pods":
		r.kind = kindPod
	case r.group == "" && r.resource == "namespaces" && r.namespace == "":
		r.kind = kindNamespace
	case r.group == "" && r.resource == "nodes" && r.namespace == "":
		r.kind = kindNode
	case otherResources[r.resource] == r.group+"/"+r.version:
		r.kind = kindOther
	default:
		return r, false
	}
	return r, true
}

func (s *Server) serve(w http.ResponseWriter, req *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, req.Method+" "+req.URL.RequestURI())
	s.mu.Unlock()

	if s.token != "" && req.Header.Get("Authorization") != "Bearer "+s.token {
		writeStatus(w, http.StatusUnauthorized, "Unauthorized", "fakek8s: missing or wrong bearer token")
		return
	}
	if req.Method != http.MethodGet {
		writeStatus(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "fakek8s: read-only")
		return
	}
	if req.URL.Path == "/version" {
		writeJSON(w, map[string]string{"major": "1", "minor": "33", "gitVersion": "v1.33.0-fakek8s", "platform": "linux/amd64"})
		return
	}
	r, ok := parseRoute(req.URL.Path)
	if !ok {
		writeStatus(w, http.StatusNotFound, "NotFound", "fakek8s: not served: "+req.URL.Path)
		return
	}
	q := req.URL.Query()
	sel := parseSelectors(q.Get("labelSelector"), q.Get("fieldSelector"))
	meta := wantsMetadata(req.Header.Get("Accept"))
	if q.Get("watch") == "true" || q.Get("watch") == "1" {
		s.watch(w, req, r, sel, meta)
		return
	}
	s.mu.Lock()
	items, rv := s.snapshot(r, sel)
	s.mu.Unlock()
	writeJSON(w, listObject(r, items, rv, meta))
}

// snapshot returns the current objects of route r matching sel and the
// current resourceVersion. s.mu must be held.
func (s *Server) snapshot(r route, sel selectors) ([]any, int64) {
	var items []any
	switch r.kind {
	case kindPod:
		for _, p := range s.pods {
			if (r.namespace == "" || p.Namespace == r.namespace) && sel.matchPod(p) {
				items = append(items, p.DeepCopy())
			}
		}
	case kindNamespace:
		for _, n := range s.namespaces {
			if sel.match(n.Labels, map[string]string{"metadata.name": n.Name}) {
				snap := *n
				items = append(items, &snap)
			}
		}
	case kindNode:
		for _, n := range s.nodes {
			if sel.match(n.Labels, map[string]string{"metadata.name": n.Name}) {
				snap := *n
				items = append(items, &snap)
			}
		}
	}
	return items, s.rv
}

func (s *Server) watch(w http.ResponseWriter, req *http.Request, r route, sel selectors, meta bool) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeStatus(w, http.StatusInternalServerError, "InternalError", "fakek8s: streaming unsupported")
		return
	}
	q := req.URL.Query()
	var timeout <-chan time.Time
	if secs, err := strconv.Atoi(q.Get("timeoutSeconds")); err == nil && secs > 0 {
		timer := time.NewTimer(time.Duration(secs) * time.Second)
		defer timer.Stop()
		timeout = timer.C
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Transfer-Encoding", "chunked")
	w.WriteHeader(http.StatusOK)
	flusher.Flush() // clients wait for the headers before reading events
	enc := json.NewEncoder(w)
	send := func(typ string, obj any) bool {
		if err := enc.Encode(map[string]any{"type": typ, "object": obj}); err != nil {
			return false
		}
		flusher.Flush()
		return true
	}

	s.mu.Lock()
	var since int64
	if q.Get("sendInitialEvents") == "true" {
		items, rv := s.snapshot(r, sel)
		s.mu.Unlock()
		for _, it := range items {
			if !send("ADDED", object(r, it, meta)) {
				return
			}
		}
		if !send("BOOKMARK", bookmark(r, rv, meta)) {
			return
		}
		since = rv
		s.mu.Lock()
	} else {
		since, _ = strconv.ParseInt(q.Get("resourceVersion"), 10, 64)
	}
	for {
		var pending []event
		for _, e := range s.log {
			if e.rv > since && e.kind == r.kind && r.kind != kindOther && (r.namespace == "" || e.ns == r.namespace) {
				pending = append(pending, e)
			}
		}
		changed := s.changed
		s.mu.Unlock()
		for _, e := range pending {
			since = e.rv
			if !eventMatches(e, sel) {
				continue
			}
			if !send(e.typ, object(r, e.obj, meta)) {
				return
			}
		}
		select {
		case <-changed:
		case <-req.Context().Done():
			return
		case <-s.done:
			return
		case <-timeout:
			return
		}
		s.mu.Lock()
	}
}

func eventMatches(e event, sel selectors) bool {
	switch o := e.obj.(type) {
	case *corev1.Pod:
		return sel.matchPod(o)
	case *Namespace:
		return sel.match(o.Labels, map[string]string{"metadata.name": o.Name})
	case *Node:
		return sel.match(o.Labels, map[string]string{"metadata.name": o.Name})
	}
	return false
}

// wantsMetadata reports whether the client asked for PartialObjectMetadata
// (client-go's metadata client, which k8s_attributes uses for namespaces,
// nodes and workloads).
func wantsMetadata(accept string) bool {
	return strings.Contains(accept, "as=PartialObjectMetadata")
}

func partialMeta(om metav1.ObjectMeta) metav1.PartialObjectMetadata {
	return metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{Kind: "PartialObjectMetadata", APIVersion: "meta.k8s.io/v1"},
		ObjectMeta: om,
	}
}

func (n *Namespace) objectMeta() metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: n.Name, UID: types.UID(n.UID), Labels: n.Labels}
}

func (n *Node) objectMeta() metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: n.Name, UID: types.UID(n.UID), Labels: n.Labels}
}

// object renders one stored object for route r.
func object(r route, it any, meta bool) any {
	switch o := it.(type) {
	case *corev1.Pod:
		if meta {
			return partialMeta(o.ObjectMeta)
		}
		return o
	case *Namespace:
		if meta {
			return partialMeta(o.objectMeta())
		}
		return &corev1.Namespace{
			TypeMeta:   metav1.TypeMeta{Kind: "Namespace", APIVersion: "v1"},
			ObjectMeta: o.objectMeta(),
			Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
		}
	case *Node:
		if meta {
			return partialMeta(o.objectMeta())
		}
		return &corev1.Node{TypeMeta: metav1.TypeMeta{Kind: "Node", APIVersion: "v1"}, ObjectMeta: o.objectMeta()}
	}
	return it
}

func kindName(r route) string {
	switch r.kind {
	case kindPod:
		return "Pod"
	case kindNamespace:
		return "Namespace"
	case kindNode:
		return "Node"
	}
	name := strings.TrimSuffix(r.resource, "s")
	return strings.ToUpper(name[:1]) + name[1:]
}

func apiVersion(r route) string {
	if r.group == "" {
		return r.version
	}
	return r.group + "/" + r.version
}

// bookmark is the event that ends a streaming list.
func bookmark(r route, rv int64, meta bool) any {
	om := metav1.ObjectMeta{
		ResourceVersion: strconv.FormatInt(rv, 10),
		Annotations:     map[string]string{metav1.InitialEventsAnnotationKey: "true"},
	}
	if meta {
		return partialMeta(om)
	}
	return map[string]any{"kind": kindName(r), "apiVersion": apiVersion(r), "metadata": om}
}

func listObject(r route, items []any, rv int64, meta bool) any {
	lm := metav1.ListMeta{ResourceVersion: strconv.FormatInt(rv, 10)}
	if meta {
		list := metav1.PartialObjectMetadataList{
			TypeMeta: metav1.TypeMeta{Kind: "PartialObjectMetadataList", APIVersion: "meta.k8s.io/v1"},
			ListMeta: lm,
			Items:    []metav1.PartialObjectMetadata{},
		}
		for _, it := range items {
			list.Items = append(list.Items, object(r, it, true).(metav1.PartialObjectMetadata))
		}
		return list
	}
	out := make([]any, 0, len(items))
	for _, it := range items {
		out = append(out, object(r, it, false))
	}
	return map[string]any{"kind": kindName(r) + "List", "apiVersion": apiVersion(r), "metadata": lm, "items": out}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func writeStatus(w http.ResponseWriter, code int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure,
		Message:  msg,
		Reason:   metav1.StatusReason(reason),
		Code:     int32(code),
	})
}
