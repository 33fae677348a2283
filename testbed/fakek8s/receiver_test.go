package fakek8s

import (
	"context"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// startOTLPReceiver runs the real otlp receiver (gRPC) in front of next and
// returns its address.
func startOTLPReceiver(t *testing.T, next consumer.Traces) string {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close())

	f := otlpreceiver.NewFactory()
	cfg := f.CreateDefaultConfig()
	require.NoError(t, confmap.NewFromStringMap(map[string]any{
		"protocols": map[string]any{"grpc": map[string]any{"endpoint": addr}},
	}).Unmarshal(cfg))
	r, err := f.CreateTraces(context.Background(), receivertest.NewNopSettings(f.Type()), cfg, next)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })
	return addr
}

// exportFrom sends one span over OTLP/gRPC from the loopback source address
// srcIP, with a resource that claims namespace claim.
func exportFrom(t *testing.T, addr, srcIP, claim string) {
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(srcIP)}}
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
			return dialer.DialContext(ctx, "tcp", a)
		}))
	require.NoError(t, err)
	defer func() { require.NoError(t, conn.Close()) }()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("k8s.namespace.name", claim)
	rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty().SetName("from-" + srcIP)
	_, err = ptraceotlp.NewGRPCClient(conn).Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(td))
	require.NoError(t, err)
}

// TestReceiverSourceAddressPicksPod is the trust chain from the wire: the real
// otlp receiver records each connection's source address, k8s_attributes
// finds the pod at that address in the fake API server, and the namespace
// claimed by the sender is replaced by the pod's.
func TestReceiverSourceAddressPicksPod(t *testing.T) {
	cluster(t)
	sink := new(consumertest.TracesSink)
	addr := startOTLPReceiver(t, newStripClaims(t, newK8sAttributes(t, sink)))

	exportFrom(t, addr, "127.0.0.2", "team-b")
	exportFrom(t, addr, "127.0.0.3", "team-a")

	got := map[string]string{}
	for _, td := range sink.AllTraces() {
		rs := td.ResourceSpans().At(0)
		ns, _ := rs.Resource().Attributes().Get("k8s.namespace.name")
		got[rs.ScopeSpans().At(0).Spans().At(0).Name()] = ns.Str()
	}
	assert.Equal(t, map[string]string{"from-127.0.0.2": "team-a", "from-127.0.0.3": "team-b"}, got)
}
