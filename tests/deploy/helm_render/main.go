// helm_render renders a Helm 3 chart offline, as `helm template` does.
//
//	helm_render [-n namespace] [--name release] [-f values.yaml]... [--set k=v]...
//	            [--set-string k=v]... [--kube-version v1.29.0] [--api-versions g/v]...
//	            [--notes] <chart-dir>
//
// helm itself is not packaged in Debian, so the deployment tests render the
// chart with this program instead. It mirrors Helm's template engine: Go's
// text/template with missingkey=zero, Sprig's text functions without env and
// expandenv, Helm's own functions (toYaml, fromYaml, fromYamlArray, toJson,
// fromJson, fromJsonArray, include, tpl, required, fail, lookup, which has no
// cluster to ask and returns an empty map), the built-in objects .Values,
// .Release, .Chart, .Files, .Capabilities and .Template, values merged like
// Helm (values.yaml, then each -f file, then --set), templates whose name
// starts with "_" defining without emitting, "<no value>" removed, and the
// output split into documents, empty ones dropped, ordered by kind like Helm's
// install order and printed as "---\n# Source: <chart>/templates/<file>\n<doc>".
// NOTES.txt is rendered (its errors fail the run) and printed only with
// --notes. Its own correctness is pinned by tests/privileged/test_helm.py,
// which compares its output with the kustomize manifests and renders the
// failure paths Helm has (fail, required).
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"github.com/ghodss/yaml"
)

// Metadata is Chart.yaml, with Helm's field names (.Chart.Name, .Chart.AppVersion...).
type Metadata struct {
	Name         string                   `json:"name,omitempty"`
	Home         string                   `json:"home,omitempty"`
	Sources      []string                 `json:"sources,omitempty"`
	Version      string                   `json:"version,omitempty"`
	Description  string                   `json:"description,omitempty"`
	Keywords     []string                 `json:"keywords,omitempty"`
	Maintainers  []map[string]interface{} `json:"maintainers,omitempty"`
	Icon         string                   `json:"icon,omitempty"`
	APIVersion   string                   `json:"apiVersion,omitempty"`
	Condition    string                   `json:"condition,omitempty"`
	Tags         string                   `json:"tags,omitempty"`
	AppVersion   string                   `json:"appVersion,omitempty"`
	Deprecated   bool                     `json:"deprecated,omitempty"`
	Annotations  map[string]string        `json:"annotations,omitempty"`
	KubeVersion  string                   `json:"kubeVersion,omitempty"`
	Dependencies []map[string]interface{} `json:"dependencies,omitempty"`
	Type         string                   `json:"type,omitempty"`
}

// Files are the chart's files outside templates/ (.Files).
type Files map[string][]byte

func (f Files) GetBytes(name string) []byte { return f[name] }
func (f Files) Get(name string) string      { return string(f[name]) }

// Glob returns the files whose path matches pattern ("*" stops at "/").
func (f Files) Glob(pattern string) Files {
	out := Files{}
	for name, data := range f {
		if ok, _ := path.Match(pattern, name); ok {
			out[name] = data
		}
	}
	return out
}

// Lines splits a file into lines, without a trailing empty one.
func (f Files) Lines(name string) []string {
	data, ok := f[name]
	if !ok {
		return []string{}
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

// AsConfig renders the files as the data of a ConfigMap (base name: content).
func (f Files) AsConfig() string {
	m := map[string]string{}
	for name, data := range f {
		m[path.Base(name)] = string(data)
	}
	return toYAML(m)
}

// AsSecrets renders the files as the data of a Secret (base name: base64).
func (f Files) AsSecrets() string {
	m := map[string]string{}
	for name, data := range f {
		m[path.Base(name)] = base64.StdEncoding.EncodeToString(data)
	}
	return toYAML(m)
}

// KubeVersion is .Capabilities.KubeVersion.
type KubeVersion struct {
	Version string
	Major   string
	Minor   string
}

func (k KubeVersion) String() string     { return k.Version }
func (k KubeVersion) GitVersion() string { return k.Version }

// VersionSet is .Capabilities.APIVersions.
type VersionSet []string

// Has tells whether "group/version" (or "group/version/Kind") is available.
func (v VersionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

// Capabilities is .Capabilities.
type Capabilities struct {
	KubeVersion KubeVersion
	APIVersions VersionSet
	HelmVersion map[string]string
}

// The API groups of a stock cluster; --api-versions adds more (CRDs).
var defaultAPIVersions = []string{
	"v1", "admissionregistration.k8s.io/v1", "apiextensions.k8s.io/v1", "apiregistration.k8s.io/v1",
	"apps/v1", "authentication.k8s.io/v1", "authorization.k8s.io/v1", "autoscaling/v1", "autoscaling/v2",
	"batch/v1", "certificates.k8s.io/v1", "coordination.k8s.io/v1", "discovery.k8s.io/v1",
	"events.k8s.io/v1", "flowcontrol.apiserver.k8s.io/v1beta3", "networking.k8s.io/v1", "node.k8s.io/v1",
	"policy/v1", "rbac.authorization.k8s.io/v1", "scheduling.k8s.io/v1", "storage.k8s.io/v1",
}

// Helm's install order; kinds not listed come last, alphabetically.
var installOrder = []string{
	"PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
	"PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass",
	"PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole",
	"ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding",
	"RoleBindingList", "Service", "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
	"HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService",
}

func toYAML(v interface{}) string {
	data, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(data), "\n")
}

func fromYAML(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromYAMLArray(s string) []interface{} {
	a := []interface{}{}
	if err := yaml.Unmarshal([]byte(s), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

func toJSON(v interface{}) string {
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(data)
}

func fromJSON(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromJSONArray(s string) []interface{} {
	a := []interface{}{}
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

const recursionMax = 1000

// funcMap is Sprig's without env/expandenv, with Helm's functions on top;
// include and tpl are bound to a template set by bindDynamic.
func funcMap() template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	extra := template.FuncMap{
		"toYaml":        toYAML,
		"fromYaml":      fromYAML,
		"fromYamlArray": fromYAMLArray,
		"toJson":        toJSON,
		"fromJson":      fromJSON,
		"fromJsonArray": fromJSONArray,
		"required": func(msg string, v interface{}) (interface{}, error) {
			if v == nil {
				return v, errors.New(msg)
			}
			if s, ok := v.(string); ok && s == "" {
				return v, errors.New(msg)
			}
			return v, nil
		},
		"fail": func(msg string) (string, error) { return "", errors.New(msg) },
		"lookup": func(apiVersion, kind, namespace, name string) (map[string]interface{}, error) {
			return map[string]interface{}{}, nil
		},
		"include": func(string, interface{}) (string, error) { return "", errors.New("not bound") },
		"tpl":     func(string, interface{}) (string, error) { return "", errors.New("not bound") },
	}
	for k, v := range extra {
		f[k] = v
	}
	return f
}

// bindDynamic gives t the include and tpl functions that execute in t.
func bindDynamic(t *template.Template, depth map[string]int) {
	t.Funcs(template.FuncMap{
		"include": func(name string, data interface{}) (string, error) {
			if depth[name] > recursionMax {
				return "", fmt.Errorf("rendering template has a nested reference name: %s: unable to execute template", name)
			}
			depth[name]++
			defer func() { depth[name]-- }()
			var buf strings.Builder
			if err := t.ExecuteTemplate(&buf, name, data); err != nil {
				return "", err
			}
			return buf.String(), nil
		},
		"tpl": func(text string, vals interface{}) (string, error) {
			clone, err := t.Clone()
			if err != nil {
				return "", err
			}
			bindDynamic(clone, depth)
			name := "tpl"
			if m, ok := vals.(map[string]interface{}); ok {
				if tm, ok := m["Template"].(map[string]interface{}); ok {
					if n, ok := tm["Name"].(string); ok {
						name = n
					}
				}
			}
			nt, err := clone.New(name).Parse(text)
			if err != nil {
				return "", fmt.Errorf("cannot parse template %q: %w", text, err)
			}
			var buf strings.Builder
			if err := nt.Execute(&buf, vals); err != nil {
				return "", fmt.Errorf("error during tpl function execution for %q: %w", text, err)
			}
			return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
		},
	})
}

// ---------------------------------------------------------------------------
// Values

// mergeMaps lays b over a (-f files and --set over each other): maps merged
// recursively, anything else replaced.
func mergeMaps(a, b map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if bm, ok := v.(map[string]interface{}); ok {
			if am, ok := out[k].(map[string]interface{}); ok {
				out[k] = mergeMaps(am, bm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// coalesce lays the user's values over the chart's defaults: tables merged,
// a user null deletes the default.
func coalesce(user, defaults map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(user))
	for k, v := range user {
		out[k] = v
	}
	for k, dv := range defaults {
		uv, present := out[k]
		switch {
		case !present:
			out[k] = dv
		case uv == nil:
			delete(out, k)
		default:
			um, uok := uv.(map[string]interface{})
			dm, dok := dv.(map[string]interface{})
			if uok && dok {
				out[k] = coalesce(um, dm)
			} else if dok && !uok {
				fmt.Fprintf(os.Stderr, "coalesce.go: warning: skipped value for %s: Not a table.\n", k)
			}
		}
	}
	for k, v := range out {
		if v == nil {
			delete(out, k)
		}
	}
	return out
}

// typedValue is how --set reads a value: booleans, null and integers typed,
// anything else (or everything, for --set-string) a string.
func typedValue(s string, asString bool) interface{} {
	if asString {
		return s
	}
	switch {
	case strings.EqualFold(s, "true"):
		return true
	case strings.EqualFold(s, "false"):
		return false
	case strings.EqualFold(s, "null"):
		return nil
	case s == "0":
		return int64(0)
	}
	if s != "" && s[0] != '0' {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i
		}
	}
	return s
}

// splitUnescaped splits s on sep outside braces, honouring backslash escapes
// (which it keeps, for the next level to read).
func splitUnescaped(s string, sep rune) []string {
	var parts []string
	var cur strings.Builder
	depth := 0
	escaped := false
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune('\\')
			cur.WriteRune(r)
			escaped = false
		case r == '\\':
			escaped = true
		case r == '{':
			depth++
			cur.WriteRune(r)
		case r == '}':
			depth--
			cur.WriteRune(r)
		case r == sep && depth == 0:
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteRune(r)
		}
	}
	if escaped {
		cur.WriteRune('\\')
	}
	return append(parts, cur.String())
}

func unescape(s string) string {
	var b strings.Builder
	escaped := false
	for _, r := range s {
		if !escaped && r == '\\' {
			escaped = true
			continue
		}
		escaped = false
		b.WriteRune(r)
	}
	return b.String()
}

var indexRe = regexp.MustCompile(`^(.*?)((?:\[\d+\])+)$`)

type segment struct {
	key     string
	indexes []int
}

func parseKey(key string) ([]segment, error) {
	var segs []segment
	for _, part := range splitUnescaped(key, '.') {
		seg := segment{key: part}
		if m := indexRe.FindStringSubmatch(part); m != nil {
			seg.key = m[1]
			for _, n := range regexp.MustCompile(`\d+`).FindAllString(m[2], -1) {
				i, _ := strconv.Atoi(n)
				seg.indexes = append(seg.indexes, i)
			}
		}
		seg.key = unescape(seg.key)
		if seg.key == "" {
			return nil, fmt.Errorf("key %q has no name", key)
		}
		segs = append(segs, seg)
	}
	return segs, nil
}

// setIndexed sets list[i] (growing the list) to what put returns given the old item.
func setIndexed(list []interface{}, indexes []int, put func(old interface{}) interface{}) []interface{} {
	i := indexes[0]
	for len(list) <= i {
		list = append(list, nil)
	}
	if len(indexes) == 1 {
		list[i] = put(list[i])
	} else {
		inner, _ := list[i].([]interface{})
		list[i] = setIndexed(inner, indexes[1:], put)
	}
	return list
}

func setPath(m map[string]interface{}, segs []segment, value interface{}) {
	seg := segs[0]
	put := func(old interface{}) interface{} {
		if len(segs) == 1 {
			return value
		}
		child, ok := old.(map[string]interface{})
		if !ok {
			child = map[string]interface{}{}
		}
		setPath(child, segs[1:], value)
		return child
	}
	if len(seg.indexes) == 0 {
		m[seg.key] = put(m[seg.key])
		return
	}
	list, _ := m[seg.key].([]interface{})
	m[seg.key] = setIndexed(list, seg.indexes, put)
}

// parseSet applies one --set (or --set-string) argument: a=b,c.d=e,f[0]=g,h={i,j}.
func parseSet(m map[string]interface{}, arg string, asString bool) error {
	for _, assignment := range splitUnescaped(arg, ',') {
		if assignment == "" {
			continue
		}
		kv := strings.SplitN(assignment, "=", 2)
		if len(kv) != 2 {
			return fmt.Errorf("key %q has no value", unescape(kv[0]))
		}
		segs, err := parseKey(kv[0])
		if err != nil {
			return err
		}
		raw := kv[1]
		var value interface{}
		if strings.HasPrefix(raw, "{") && strings.HasSuffix(raw, "}") {
			items := []interface{}{}
			if inner := raw[1 : len(raw)-1]; inner != "" {
				for _, item := range splitUnescaped(inner, ',') {
					items = append(items, typedValue(unescape(item), asString))
				}
			}
			value = items
		} else {
			value = typedValue(unescape(raw), asString)
		}
		setPath(m, segs, value)
	}
	return nil
}

// ---------------------------------------------------------------------------
// Chart loading

type chart struct {
	meta      Metadata
	values    map[string]interface{}
	templates map[string]string // "<chart>/templates/x.yaml" -> text
	files     Files
}

type ignoreRule struct {
	pattern string
	dirOnly bool
	negate  bool
}

func loadIgnore(dir string) []ignoreRule {
	data, err := os.ReadFile(filepath.Join(dir, ".helmignore"))
	if err != nil {
		return nil
	}
	var rules []ignoreRule
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r := ignoreRule{}
		if strings.HasPrefix(line, "!") {
			r.negate, line = true, line[1:]
		}
		if strings.HasSuffix(line, "/") {
			r.dirOnly, line = true, strings.TrimSuffix(line, "/")
		}
		r.pattern = strings.TrimPrefix(line, "/")
		rules = append(rules, r)
	}
	return rules
}

func ignored(rules []ignoreRule, rel string, isDir bool) bool {
	out := false
	for _, r := range rules {
		if r.dirOnly && !isDir {
			continue
		}
		target := rel
		if !strings.Contains(r.pattern, "/") {
			target = path.Base(rel)
		}
		if ok, _ := path.Match(r.pattern, target); ok {
			out = !r.negate
		}
	}
	return out
}

func loadChart(dir string) (*chart, error) {
	c := &chart{values: map[string]interface{}{}, templates: map[string]string{}, files: Files{}}
	data, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return nil, err
	}
	if err := yaml.Unmarshal(data, &c.meta); err != nil {
		return nil, fmt.Errorf("Chart.yaml: %w", err)
	}
	if c.meta.APIVersion != "v2" {
		return nil, fmt.Errorf("Chart.yaml: apiVersion %q: only v2 charts are rendered", c.meta.APIVersion)
	}
	if c.meta.Name == "" || c.meta.Version == "" {
		return nil, errors.New("validation: chart.metadata.name and version are required")
	}
	if data, err := os.ReadFile(filepath.Join(dir, "values.yaml")); err == nil {
		if err := yaml.Unmarshal(data, &c.values); err != nil {
			return nil, fmt.Errorf("values.yaml: %w", err)
		}
		if c.values == nil {
			c.values = map[string]interface{}{}
		}
	}
	rules := loadIgnore(dir)
	err = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if ignored(rules, rel, info.IsDir()) {
			if info.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if info.IsDir() {
			if rel == "charts" {
				return errors.New("subcharts (charts/) are not supported")
			}
			return nil
		}
		body, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		switch {
		case rel == "Chart.yaml" || rel == "values.yaml" || rel == "values.schema.json" ||
			rel == "Chart.lock" || rel == ".helmignore":
		case strings.HasPrefix(rel, "templates/"):
			// Dot files in templates/ are ignored, as Helm's default rules do.
			if !strings.HasPrefix(path.Base(rel), ".") {
				c.templates[c.meta.Name+"/"+rel] = string(body)
			}
		default:
			c.files[rel] = body
		}
		return nil
	})
	return c, err
}

// ---------------------------------------------------------------------------
// Rendering

var execErrRe = regexp.MustCompile(`(?s)^template: (.*?): executing ".*?" at <.*?>: (?:error calling \w+: )?(.*)$`)

// helmError words a template error as Helm does.
func helmError(err error) error {
	msg := err.Error()
	// Errors from include/tpl nest: the innermost is the one Helm reports.
	for {
		m := execErrRe.FindStringSubmatch(msg)
		if m == nil {
			break
		}
		inner := execErrRe.FindStringSubmatch(m[2])
		if inner == nil {
			return fmt.Errorf("execution error at (%s): %s", m[1], m[2])
		}
		msg = m[2]
	}
	return err
}

type manifest struct {
	source string
	doc    string
	kind   string
	order  int
}

var docSep = regexp.MustCompile(`(?:^|\s*\n)---\s*`)

func kindRank(kind string) (int, bool) {
	for i, k := range installOrder {
		if k == kind {
			return i, true
		}
	}
	return 0, false
}

func render(c *chart, vals map[string]interface{}, release, namespace, kubeVersion string,
	apis []string, notes bool) (string, error) {
	kv := strings.TrimPrefix(kubeVersion, "v")
	parts := strings.SplitN(kv, ".", 3)
	if len(parts) < 2 {
		return "", fmt.Errorf("kube version %q is not major.minor[.patch]", kubeVersion)
	}
	top := map[string]interface{}{
		"Values": vals,
		"Release": map[string]interface{}{
			"Name": release, "Namespace": namespace, "Service": "Helm",
			"IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Chart": c.meta,
		"Files": c.files,
		"Capabilities": Capabilities{
			KubeVersion: KubeVersion{Version: "v" + kv, Major: parts[0], Minor: parts[1]},
			APIVersions: append(append(VersionSet{}, defaultAPIVersions...), apis...),
			HelmVersion: map[string]string{"Version": "v3"},
		},
	}
	t := template.New("gotpl")
	t.Option("missingkey=zero")
	t.Funcs(funcMap())
	bindDynamic(t, map[string]int{})
	names := make([]string, 0, len(c.templates))
	for name := range c.templates {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if _, err := t.New(name).Parse(c.templates[name]); err != nil {
			return "", err
		}
	}
	var manifests []manifest
	var notesText string
	for _, name := range names {
		if strings.HasPrefix(path.Base(name), "_") {
			continue
		}
		top["Template"] = map[string]interface{}{"Name": name, "BasePath": c.meta.Name + "/templates"}
		var buf bytes.Buffer
		if err := t.ExecuteTemplate(&buf, name, top); err != nil {
			return "", helmError(err)
		}
		out := strings.ReplaceAll(buf.String(), "<no value>", "")
		if path.Base(name) == "NOTES.txt" {
			notesText = out
			continue
		}
		if strings.TrimSpace(out) == "" {
			continue
		}
		for _, doc := range docSep.Split(strings.TrimSpace(out), -1) {
			doc = strings.TrimSpace(doc)
			if doc == "" {
				continue
			}
			var head struct {
				Kind string `json:"kind"`
			}
			if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
				return "", fmt.Errorf("YAML parse error on %s: %w", name, err)
			}
			manifests = append(manifests, manifest{source: name, doc: doc, kind: head.Kind, order: len(manifests)})
		}
	}
	sort.SliceStable(manifests, func(i, j int) bool {
		a, b := manifests[i], manifests[j]
		ra, aok := kindRank(a.kind)
		rb, bok := kindRank(b.kind)
		switch {
		case aok && bok && ra != rb:
			return ra < rb
		case aok != bok:
			return aok
		case !aok && a.kind != b.kind:
			return a.kind < b.kind
		}
		return a.order < b.order
	})
	var out strings.Builder
	for _, m := range manifests {
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", m.source, m.doc)
	}
	if notes && notesText != "" {
		fmt.Fprintf(&out, "\nNOTES:\n%s\n", strings.TrimSpace(notesText))
	}
	return out.String(), nil
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func run() error {
	var files, sets, setStrings, apis multi
	namespace := flag.String("n", "default", "the release namespace")
	flag.StringVar(namespace, "namespace", "default", "the release namespace")
	release := flag.String("name", "release-name", "the release name")
	kubeVersion := flag.String("kube-version", "v1.29.0", "the Kubernetes version in .Capabilities")
	notes := flag.Bool("notes", false, "also print NOTES.txt")
	flag.Var(&files, "f", "a values file laid over values.yaml (repeatable)")
	flag.Var(&files, "values", "same as -f")
	flag.Var(&sets, "set", "key=value laid over the values (repeatable)")
	flag.Var(&setStrings, "set-string", "key=value, the value always a string (repeatable)")
	flag.Var(&apis, "api-versions", "an extra API version in .Capabilities.APIVersions (repeatable)")
	flag.Parse()
	if flag.NArg() != 1 {
		return errors.New("usage: helm_render [flags] <chart-dir>")
	}
	c, err := loadChart(flag.Arg(0))
	if err != nil {
		return err
	}
	user := map[string]interface{}{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		m := map[string]interface{}{}
		if err := yaml.Unmarshal(data, &m); err != nil {
			return fmt.Errorf("failed to parse %s: %w", f, err)
		}
		user = mergeMaps(user, m)
	}
	// --set then --set-string, each in the order given.
	for _, s := range sets {
		if err := parseSet(user, s, false); err != nil {
			return fmt.Errorf("failed parsing --set data: %w", err)
		}
	}
	for _, s := range setStrings {
		if err := parseSet(user, s, true); err != nil {
			return fmt.Errorf("failed parsing --set-string data: %w", err)
		}
	}
	vals := coalesce(user, c.values)
	out, err := render(c, vals, *release, *namespace, *kubeVersion, apis, *notes)
	if err != nil {
		return err
	}
	_, err = os.Stdout.WriteString(out)
	return err
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "Error: %s\n", err)
		os.Exit(1)
	}
}
