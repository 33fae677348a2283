// Package loadgen is a lean OTLP trace load generator for the benchmark.
//
// Requests are built once with pdata from a realistic mesh span mix
// (BuildMix), marshalled once to protobuf (NewTemplate), and replayed over
// real gRPC or HTTP connections. Each replay copies the body and writes fresh
// trace and span IDs at byte offsets found once, so a replay costs a memcpy
// and a few random numbers instead of a marshal. The generator paces itself
// to a logical span rate or runs flat out with N workers, and counts every
// span the receiver acknowledged or refused (with the gRPC code or HTTP
// status), so a benchmark can check the sink against what was accepted.
package loadgen
