package main

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// The repository's Dockerfile and mkimage describe the same image. These
// tests parse the Dockerfile and compare what it declares with an image that
// build() actually produced, so that neither can change alone.

// dockerfilePath is the Dockerfile at the repository root, seen from tools/mkimage.
const dockerfilePath = "../../Dockerfile"

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int
	cmd  string // upper case
	args string
}

// parseDockerfile splits a Dockerfile into instructions: comment lines are
// dropped, backslash-continued lines joined.
func parseDockerfile(src string) ([]instruction, error) {
	var out []instruction
	var cur strings.Builder
	start := 0
	for i, raw := range strings.Split(src, "\n") {
		line := strings.TrimRight(raw, " \t\r")
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue // as docker does, also inside a continued instruction
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(cont)
			continue
		}
		cur.WriteString(line)
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		cmd, args, _ := strings.Cut(text, " ")
		out = append(out, instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
	}
	if cur.Len() != 0 {
		return nil, fmt.Errorf("line %d: the file ends inside a continued line", start)
	}
	return out, nil
}

// words splits shell-like words: double quotes (with \" and \\ escapes),
// single quotes, and bare words.
func words(s string) ([]string, error) {
	var out []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				out = append(out, w.String())
				w.Reset()
				inWord = false
			}
		case c == '"':
			inWord = true
			for i++; ; i++ {
				if i >= len(s) {
					return nil, fmt.Errorf("unterminated double quote in %q", s)
				}
				if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
					i++
				} else if s[i] == '"' {
					break
				}
				w.WriteByte(s[i])
			}
		case c == '\'':
			inWord = true
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated single quote in %q", s)
			}
			w.WriteString(s[i+1 : i+1+end])
			i += end + 1
		default:
			inWord = true
			w.WriteByte(c)
		}
	}
	if inWord {
		out = append(out, w.String())
	}
	return out, nil
}

var argRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// expand substitutes ${NAME} and $NAME from vars; an unknown name is an error
// (docker would substitute an empty string, silently).
func expand(s string, vars map[string]string) (string, error) {
	var err error
	out := argRef.ReplaceAllStringFunc(s, func(m string) string {
		sub := argRef.FindStringSubmatch(m)
		name := sub[1] + sub[2]
		v, ok := vars[name]
		if !ok && err == nil {
			err = fmt.Errorf("%s is not a declared ARG", name)
		}
		return v
	})
	return out, err
}

// dockerCopy is a COPY of the final stage.
type dockerCopy struct {
	from  string // stage name; empty for the build context
	src   string
	dest  string
	chmod int64
}

// dockerImage is what the Dockerfile's final stage declares, with ARGs at
// their defaults except those given as build arguments.
type dockerImage struct {
	base       string
	labels     map[string]string
	user       string
	ports      []string // "4317/tcp", sorted
	entrypoint []string
	cmd        []string
	copies     []dockerCopy
	// printfs maps stage name, then file path, to the content a RUN's
	// printf '...' > path wrote in that stage.
	printfs map[string]map[string]string
}

var printfTo = regexp.MustCompile(`printf '([^']*)' > (\S+)`)

// interpretDockerfile reads the instructions of src. Anything in the final
// stage it does not know fails: a new ENV, WORKDIR, VOLUME or HEALTHCHECK
// must be taught to mkimage and to this test first.
func interpretDockerfile(src string, buildArgs map[string]string) (*dockerImage, error) {
	ins, err := parseDockerfile(src)
	if err != nil {
		return nil, err
	}
	img := &dockerImage{labels: map[string]string{}, printfs: map[string]map[string]string{}}
	var stage string
	stages := 0
	vars := map[string]string{}
	var unknown error // the first instruction of the current stage that is not interpreted
	for _, in := range ins {
		bad := func(format string, a ...any) error {
			return fmt.Errorf("Dockerfile line %d (%s): %s", in.line, in.cmd, fmt.Sprintf(format, a...))
		}
		switch in.cmd {
		case "ARG":
			name, def, _ := strings.Cut(in.args, "=")
			ws, err := words(def)
			if err != nil {
				return nil, bad("%v", err)
			}
			vars[name] = strings.Join(ws, " ")
			if v, ok := buildArgs[name]; ok {
				vars[name] = v
			}
			continue
		case "FROM":
			ws, err := words(in.args)
			if err != nil {
				return nil, bad("%v", err)
			}
			if len(ws) != 1 && !(len(ws) == 3 && strings.EqualFold(ws[1], "AS")) {
				return nil, bad("want FROM <image> [AS <name>], got %q", in.args)
			}
			if img.base, err = expand(ws[0], vars); err != nil {
				return nil, bad("%v", err)
			}
			stage = ""
			if len(ws) == 3 {
				stage = ws[2]
			}
			stages++
			unknown = nil
			// Every stage starts afresh: the final stage's settings are
			// those declared after its FROM.
			img.labels, img.user, img.ports, img.entrypoint, img.cmd, img.copies = map[string]string{}, "", nil, nil, nil, nil
			continue
		}
		if stages == 0 {
			return nil, bad("before the first FROM")
		}
		args, err := expand(in.args, vars)
		if err != nil {
			return nil, bad("%v", err)
		}
		switch in.cmd {
		case "RUN":
			for _, m := range printfTo.FindAllStringSubmatch(args, -1) {
				content := strings.ReplaceAll(m[1], `\n`, "\n")
				if strings.ContainsAny(content, `\%`) {
					return nil, bad("printf format %q has escapes or verbs this test does not interpret", m[1])
				}
				if img.printfs[stage] == nil {
					img.printfs[stage] = map[string]string{}
				}
				img.printfs[stage][m[2]] = content
			}
		case "LABEL":
			ws, err := words(args)
			if err != nil {
				return nil, bad("%v", err)
			}
			for _, w := range ws {
				k, v, ok := strings.Cut(w, "=")
				if !ok {
					return nil, bad("label %q is not key=value", w)
				}
				img.labels[k] = v
			}
		case "USER":
			img.user = args
		case "EXPOSE":
			for _, p := range strings.Fields(args) {
				if !strings.Contains(p, "/") {
					p += "/tcp"
				}
				img.ports = append(img.ports, p)
			}
			slices.Sort(img.ports)
		case "ENTRYPOINT", "CMD":
			var v []string
			if err := json.Unmarshal([]byte(args), &v); err != nil {
				return nil, bad("want the JSON (exec) form: %v", err)
			}
			if in.cmd == "ENTRYPOINT" {
				img.entrypoint = v
			} else {
				img.cmd = v
			}
		case "COPY":
			ws, err := words(args)
			if err != nil {
				return nil, bad("%v", err)
			}
			c := dockerCopy{chmod: -1}
			for len(ws) > 0 && strings.HasPrefix(ws[0], "--") {
				flag, val, _ := strings.Cut(ws[0], "=")
				switch flag {
				case "--from":
					c.from = val
				case "--chmod":
					if c.chmod, err = strconv.ParseInt(val, 8, 64); err != nil {
						return nil, bad("--chmod=%s: %v", val, err)
					}
				default:
					return nil, bad("COPY flag %s is not interpreted by this test (nor built by mkimage)", flag)
				}
				ws = ws[1:]
			}
			if len(ws) != 2 {
				return nil, bad("want COPY [flags] <src> <dest>, got %q", args)
			}
			c.src, c.dest = ws[0], ws[1]
			img.copies = append(img.copies, c)
		default:
			if unknown == nil {
				unknown = bad("not interpreted by this test: mkimage builds no such setting")
			}
		}
	}
	if stages == 0 {
		return nil, fmt.Errorf("the Dockerfile has no FROM")
	}
	if unknown != nil { // only the final stage's settings reach the image
		return nil, unknown
	}
	return img, nil
}

// dockerfileProblems lists every way img, built by mkimage from o, differs
// from what the Dockerfile df declares.
func dockerfileProblems(t *testing.T, df *dockerImage, img v1.Image) []string {
	t.Helper()
	var p []string
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if df.base != "scratch" {
		p = append(p, fmt.Sprintf("the Dockerfile's final stage is FROM %s; mkimage builds on an empty base (scratch)", df.base))
	}
	if !maps.Equal(df.labels, c.Labels) {
		p = append(p, fmt.Sprintf("labels: Dockerfile %v, mkimage %v", df.labels, c.Labels))
	}
	if df.user != c.User {
		p = append(p, fmt.Sprintf("user: Dockerfile %q, mkimage %q", df.user, c.User))
	}
	ports := slices.Sorted(maps.Keys(c.ExposedPorts))
	if !slices.Equal(df.ports, ports) {
		p = append(p, fmt.Sprintf("exposed ports: Dockerfile %q, mkimage %q", df.ports, ports))
	}
	if !slices.Equal(df.entrypoint, c.Entrypoint) {
		p = append(p, fmt.Sprintf("entrypoint: Dockerfile %q, mkimage %q", df.entrypoint, c.Entrypoint))
	}
	if !slices.Equal(df.cmd, c.Cmd) {
		p = append(p, fmt.Sprintf("cmd: Dockerfile %q, mkimage %q", df.cmd, c.Cmd))
	}

	// Files: the same paths and modes, root-owned (COPY without --chown);
	// passwd and group with the same content; files from the build context
	// from the same repository files that `make image` and mkimage's defaults use.
	layer := layerEntries(t, img)
	fromContext := map[string]string{ // image path -> mkimage default source, relative to the repository
		binaryPath:      strings.TrimPrefix(defaultOptions().Binary, "../"),
		configPath:      strings.TrimPrefix(defaultOptions().Config, "../"),
		tempoConfigPath: strings.TrimPrefix(defaultOptions().TempoConfig, "../"),
	}
	copied := map[string]bool{}
	for _, cp := range df.copies {
		copied[cp.dest] = true
		got, ok := layer[strings.TrimPrefix(cp.dest, "/")]
		if !ok || got.typ != tar.TypeReg {
			p = append(p, fmt.Sprintf("the Dockerfile copies %s; mkimage's layer has no such file", cp.dest))
			continue
		}
		if cp.chmod != got.mode {
			p = append(p, fmt.Sprintf("%s: Dockerfile --chmod=%#o, mkimage mode %#o", cp.dest, cp.chmod, got.mode))
		}
		switch {
		case cp.from == "":
			if want, ok := fromContext[cp.dest]; !ok {
				p = append(p, fmt.Sprintf("%s comes from the build context (%s); mkimage has no input for it", cp.dest, cp.src))
			} else if cp.src != want {
				p = append(p, fmt.Sprintf("%s: Dockerfile copies %s, mkimage defaults to %s", cp.dest, cp.src, want))
			}
		case df.printfs[cp.from][cp.src] != "":
			if content := df.printfs[cp.from][cp.src]; content != string(got.content) {
				p = append(p, fmt.Sprintf("%s: Dockerfile writes %q, mkimage %q", cp.dest, content, got.content))
			}
		case cp.dest == caCertsPath:
			if cp.src != defaultOptions().CACerts {
				p = append(p, fmt.Sprintf("%s: Dockerfile copies %s of stage %s, mkimage defaults to %s", cp.dest, cp.src, cp.from, defaultOptions().CACerts))
			}
		default:
			p = append(p, fmt.Sprintf("%s: copied from %s of stage %s, which this test cannot compare", cp.dest, cp.src, cp.from))
		}
	}
	for _, n := range slices.Sorted(maps.Keys(layer)) {
		if layer[n].typ == tar.TypeReg && !copied["/"+n] {
			p = append(p, fmt.Sprintf("mkimage's layer has /%s, which the Dockerfile does not copy", n))
		}
	}
	return p
}

// imageAsDockerBuilds builds with mkimage the image that `docker build
// --build-arg REVISION=<rev> .` builds from the Dockerfile: its tag is the
// Dockerfile's VERSION.
func imageAsDockerBuilds(t *testing.T, src string) (*dockerImage, v1.Image, options) {
	t.Helper()
	defaults, err := interpretDockerfile(src, nil)
	if err != nil {
		t.Fatal(err)
	}
	version := defaults.labels["org.opencontainers.image.version"]
	if version == "" {
		t.Fatal("the Dockerfile sets no org.opencontainers.image.version label")
	}
	o := inputs(t)
	o.Tag = "otelcol-mesh:" + version
	df, err := interpretDockerfile(src, map[string]string{"REVISION": o.Revision})
	if err != nil {
		t.Fatal(err)
	}
	res, err := build(o)
	if err != nil {
		t.Fatal(err)
	}
	img, err := imageFromLayout(res.LayoutDir, res.Digest)
	if err != nil {
		t.Fatal(err)
	}
	return df, img, o
}

func TestDockerfileAndMkimageBuildTheSameImage(t *testing.T) {
	src := string(readFile(t, dockerfilePath))
	df, img, _ := imageAsDockerBuilds(t, src)
	if len(df.copies) == 0 || df.entrypoint == nil {
		t.Fatalf("parsed nothing from %s: %+v", dockerfilePath, df)
	}
	for _, problem := range dockerfileProblems(t, df, img) {
		t.Error(problem)
	}
}

// TestDockerfileDriftIsCaught edits a copy of the real Dockerfile in each way
// the two could drift apart and expects the comparison to report it.
func TestDockerfileDriftIsCaught(t *testing.T) {
	src := string(readFile(t, dockerfilePath))
	_, img, o := imageAsDockerBuilds(t, src)
	tests := []struct{ name, old, new, want string }{
		{"port", "EXPOSE 4317 4318 13133 8888", "EXPOSE 4317 4318 13133", "exposed ports"},
		{"user", "USER 10001:10001", "USER 10002:10002", "user:"},
		{"entrypoint", `ENTRYPOINT ["/otelcol-mesh"]`, `ENTRYPOINT ["/otelcol"]`, "entrypoint:"},
		{"config path", `CMD ["--config", "/etc/otelcol-mesh/config.yaml"]`, `CMD ["--config", "/etc/otelcol/config.yaml"]`, "cmd:"},
		{"label", `org.opencontainers.image.title="otelcol-mesh"`, `org.opencontainers.image.title="otelcol"`, "labels:"},
		{"version", "ARG VERSION=0.1.0", "ARG VERSION=0.2.0", "labels:"},
		{"mode", "COPY --chmod=0755 _build/otelcol-mesh", "COPY --chmod=0700 _build/otelcol-mesh", "/otelcol-mesh: Dockerfile --chmod=0700"},
		{"config source", "distribution/config/container.yaml /etc", "distribution/config/local.yaml /etc", "mkimage defaults to distribution/config/container.yaml"},
		{"passwd", `otelcol:x:10001:10001:otelcol-mesh:/:/sbin/nologin`, `otelcol:x:10001:10001:otelcol:/:/sbin/nologin`, "/etc/passwd: Dockerfile writes"},
		{"file dropped", "COPY --chmod=0644 distribution/config/local-tempo.yaml /etc/otelcol-mesh/tempo.yaml\n", "", "mkimage's layer has /etc/otelcol-mesh/tempo.yaml"},
		{"base", "FROM scratch", "FROM alpine:3.22", "final stage is FROM alpine:3.22"},
		{"new setting", "USER 10001:10001", "USER 10001:10001\nENV GOMEMLIMIT=400MiB", "not interpreted by this test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if strings.Count(src, tt.old) != 1 {
				t.Fatalf("the Dockerfile no longer contains %q exactly once: update this case", tt.old)
			}
			edited := strings.Replace(src, tt.old, tt.new, 1)
			df, err := interpretDockerfile(edited, map[string]string{"REVISION": o.Revision})
			var problems []string
			if err != nil {
				problems = []string{err.Error()}
			} else {
				problems = dockerfileProblems(t, df, img)
			}
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tt.want) }) {
				t.Errorf("want a problem containing %q, got %q", tt.want, problems)
			}
		})
	}
}

func TestParseDockerfile(t *testing.T) {
	src := "# syntax=docker/dockerfile:1\nARG A=1\nFROM scratch\nLABEL a=\"x y\" \\\n      b='${A}'\n\nRUN echo \\\n  hi\n"
	ins, err := parseDockerfile(src)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, in := range ins {
		got = append(got, fmt.Sprintf("%d %s %s", in.line, in.cmd, in.args))
	}
	want := []string{"2 ARG A=1", "3 FROM scratch", `4 LABEL a="x y"       b='${A}'`, "7 RUN echo   hi"}
	if !slices.Equal(got, want) {
		t.Errorf("instructions = %q, want %q", got, want)
	}
	if _, err := parseDockerfile("FROM scratch\nRUN a \\\n"); err == nil {
		t.Error("a trailing continuation parsed without error")
	}
	ws, err := words(`a="x \"y\"" 'b c' d`)
	if err != nil || !slices.Equal(ws, []string{`a=x "y"`, "b c", "d"}) {
		t.Errorf("words = %q, %v", ws, err)
	}
	if _, err := expand("${NOPE}", map[string]string{}); err == nil {
		t.Error("an undeclared ARG expanded without error")
	}
}

// imageFromLayout reads the image with digest d from the OCI layout at dir.
func imageFromLayout(dir string, d v1.Hash) (v1.Image, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, err
	}
	return p.Image(d)
}

// TestMakeImageUsesTheDockerfileSources: `make image` passes mkimage its
// inputs explicitly; they must be the files the Dockerfile copies.
func TestMakeImageUsesTheDockerfileSources(t *testing.T) {
	df, err := interpretDockerfile(string(readFile(t, dockerfilePath)), nil)
	if err != nil {
		t.Fatal(err)
	}
	makefile := string(readFile(t, "../../Makefile"))
	binary := regexp.MustCompile(`(?m)^BINARY\s*:=\s*\$\(CURDIR\)/(\S+)\s*$`).FindStringSubmatch(makefile)
	if binary == nil {
		t.Fatal("the Makefile sets no BINARY := $(CURDIR)/...")
	}
	recipe := regexp.MustCompile(`(?ms)^image:.*?\n\n`).FindString(makefile + "\n\n")
	if !strings.Contains(recipe, "./mkimage") {
		t.Fatalf("found no `image:` target running ./mkimage in the Makefile: %q", recipe)
	}
	flags := map[string]string{binaryPath: "-binary", configPath: "-config", tempoConfigPath: "-tempo-config"}
	for _, cp := range df.copies {
		flag, ok := flags[cp.dest]
		if cp.from != "" || !ok {
			continue
		}
		delete(flags, cp.dest)
		want := "$(CURDIR)/" + cp.src
		if cp.dest == binaryPath {
			if binary[1] != cp.src {
				t.Errorf("the Dockerfile copies %s to %s, the Makefile's BINARY is $(CURDIR)/%s", cp.src, cp.dest, binary[1])
			}
			want = "$(BINARY)"
		}
		if !strings.Contains(recipe, flag+" "+want+" ") {
			t.Errorf("the Dockerfile copies %s to %s; make image does not pass %s %s", cp.src, cp.dest, flag, want)
		}
	}
	for dest, flag := range flags {
		t.Errorf("the Dockerfile copies nothing from the build context to %s (mkimage %s)", dest, flag)
	}
}
