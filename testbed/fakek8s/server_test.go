package fakek8s

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// restConfig loads the kubeconfig the server writes, as k8s_attributes does.
func restConfig(t *testing.T, s *Server) *rest.Config {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, s.WriteKubeconfig(path))
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	require.NoError(t, err)
	return cfg
}

func TestTypedPodsListAndWatch(t *testing.T) {
	s := New(WithTLS(), WithToken("t0k3n"))
	t.Cleanup(s.Close)
	s.AddPod(Pod{Namespace: "team-a", Name: "a1", IP: "10.0.0.1", NodeName: "n1", Labels: map[string]string{"app": "a"}})
	s.AddPod(Pod{Namespace: "team-b", Name: "b1", IP: "10.0.0.2", NodeName: "n2"})

	kc, err := kubernetes.NewForConfig(restConfig(t, s))
	require.NoError(t, err)
	ctx := context.Background()

	list, err := kc.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, list.Items, 2)
	byName := map[string]corev1.Pod{}
	for _, p := range list.Items {
		byName[p.Name] = p
	}
	assert.Equal(t, "10.0.0.1", byName["a1"].Status.PodIP)
	assert.Equal(t, "team-a", byName["a1"].Namespace)
	assert.Equal(t, "uid-team-a-a1", string(byName["a1"].UID))
	assert.Equal(t, map[string]string{"app": "a"}, byName["a1"].Labels)

	nsList, err := kc.CoreV1().Pods("team-b").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, nsList.Items, 1)
	assert.Equal(t, "b1", nsList.Items[0].Name)

	sel, err := kc.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=n1", LabelSelector: "app=a"})
	require.NoError(t, err)
	require.Len(t, sel.Items, 1)
	assert.Equal(t, "a1", sel.Items[0].Name)

	// Classic watch from the list's resourceVersion: only later changes.
	w, err := kc.CoreV1().Pods("").Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	require.NoError(t, err)
	defer w.Stop()
	s.AddPod(Pod{Namespace: "team-c", Name: "c1", IP: "10.0.0.3"})
	ev := <-w.ResultChan()
	require.Equal(t, watch.Added, ev.Type)
	pod, ok := ev.Object.(*corev1.Pod)
	require.True(t, ok)
	assert.Equal(t, "10.0.0.3", pod.Status.PodIP)

	s.DeletePod("team-a", "a1")
	ev = <-w.ResultChan()
	require.Equal(t, watch.Deleted, ev.Type)
	assert.Equal(t, "a1", ev.Object.(*corev1.Pod).Name)
}

func TestMetadataNamespacesStreamingList(t *testing.T) {
	s := New()
	t.Cleanup(s.Close)
	s.AddNamespace(Namespace{Name: "team-a", Labels: map[string]string{"team": "alpha"}})

	mc, err := metadata.NewForConfig(restConfig(t, s))
	require.NoError(t, err)
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	ctx := context.Background()

	list, err := mc.Resource(gvr).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, list.Items, 1)
	assert.Equal(t, "alpha", list.Items[0].Labels["team"])

	// Streaming list (client-go's WatchListClient mode): the current objects,
	// then a bookmark that ends the initial state, then live changes.
	send := true
	w, err := mc.Resource(gvr).Watch(ctx, metav1.ListOptions{
		SendInitialEvents: &send, AllowWatchBookmarks: true,
		ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan,
	})
	require.NoError(t, err)
	defer w.Stop()
	ev := <-w.ResultChan()
	require.Equal(t, watch.Added, ev.Type)
	assert.Equal(t, "team-a", ev.Object.(*metav1.PartialObjectMetadata).Name)
	ev = <-w.ResultChan()
	require.Equal(t, watch.Bookmark, ev.Type)
	assert.Equal(t, "true", ev.Object.(*metav1.PartialObjectMetadata).Annotations[metav1.InitialEventsAnnotationKey])

	s.AddNamespace(Namespace{Name: "team-a", Labels: map[string]string{"team": "renamed"}})
	ev = <-w.ResultChan()
	require.Equal(t, watch.Modified, ev.Type)
	assert.Equal(t, "renamed", ev.Object.(*metav1.PartialObjectMetadata).Labels["team"])
}

func TestOtherResourcesAndErrors(t *testing.T) {
	s := New(WithTLS(), WithToken("t0k3n"))
	t.Cleanup(s.Close)
	s.AddNode(Node{Name: "n1", Labels: map[string]string{"zone": "z1"}})
	mc, err := metadata.NewForConfig(restConfig(t, s))
	require.NoError(t, err)
	ctx := context.Background()

	rs, err := mc.Resource(schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, rs.Items)
	nodes, err := mc.Resource(schema.GroupVersionResource{Version: "v1", Resource: "nodes"}).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, nodes.Items, 1)
	assert.Equal(t, "z1", nodes.Items[0].Labels["zone"])

	hc := &http.Client{Transport: s.srv.Client().Transport}
	resp, err := hc.Get(s.URL() + "/api/v1/pods")
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "token required")
	require.NoError(t, resp.Body.Close())

	req, err := http.NewRequest(http.MethodGet, s.URL()+"/api/v1/secrets", http.NoBody)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer t0k3n")
	resp, err = hc.Do(req)
	require.NoError(t, err)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	var st metav1.Status
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	assert.Equal(t, metav1.StatusReasonNotFound, st.Reason)
	require.NoError(t, resp.Body.Close())
}

func TestParseTerms(t *testing.T) {
	sel := parseSelectors("app=a,tier!=db,env in (prod)", "spec.nodeName==n1,unknown.field=x")
	assert.True(t, sel.match(map[string]string{"app": "a", "tier": "web"}, map[string]string{"spec.nodeName": "n1"}))
	assert.False(t, sel.match(map[string]string{"app": "a", "tier": "db"}, map[string]string{"spec.nodeName": "n1"}))
	assert.False(t, sel.match(map[string]string{"app": "b"}, map[string]string{"spec.nodeName": "n1"}))
	assert.False(t, sel.match(map[string]string{"app": "a"}, map[string]string{"spec.nodeName": "n2"}))
}
