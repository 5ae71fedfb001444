// Package deploy holds Régie's operational files. Its only Go code is this
// test, which checks them offline: kubeconform needs schemas from the
// internet, so the manifests are rendered with kustomize's Go API and every
// object is decoded strictly into the Kubernetes API types, where an unknown
// field or a wrong type is an error.
package deploy

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// kubeDir holds every kustomization: the base, the cluster-wide issuer and
// the overlays.
const kubeDir = "kubernetes"

// knownKinds is every kind the manifests may contain, at the one API version
// they must use. A new kind is added here on purpose, with its checks.
var knownKinds = map[schema.GroupVersionKind]bool{
	corev1.SchemeGroupVersion.WithKind("Namespace"):                      true,
	corev1.SchemeGroupVersion.WithKind("ServiceAccount"):                 true,
	corev1.SchemeGroupVersion.WithKind("ConfigMap"):                      true,
	corev1.SchemeGroupVersion.WithKind("Secret"):                         true,
	corev1.SchemeGroupVersion.WithKind("Service"):                        true,
	appsv1.SchemeGroupVersion.WithKind("Deployment"):                     true,
	batchv1.SchemeGroupVersion.WithKind("Job"):                           true,
	networkingv1.SchemeGroupVersion.WithKind("Ingress"):                  true,
	networkingv1.SchemeGroupVersion.WithKind("NetworkPolicy"):            true,
	policyv1.SchemeGroupVersion.WithKind("PodDisruptionBudget"):          true,
	autoscalingv2.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler"): true,
	certManagerV1.WithKind("Certificate"):                                true,
	certManagerV1.WithKind("ClusterIssuer"):                              true,
}

// strictCodec decodes YAML into the registered API types and fails on
// unknown or duplicate fields; a wrong type fails in any mode.
var strictCodec = kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
	kjson.SerializerOptions{Yaml: true, Strict: true})

// object is one rendered resource, decoded into its typed struct.
type object struct {
	gvk       schema.GroupVersionKind
	name      string
	namespace string
	labels    map[string]string
	obj       any // *appsv1.Deployment, *certificate, …
}

func (o object) String() string { return fmt.Sprintf("%s %s/%s", o.gvk.Kind, o.namespace, o.name) }

// rendering is the output of one kustomization directory.
type rendering struct {
	dir     string
	objects []object
}

// decode strictly decodes one YAML document whose kind is known.
func decode(doc []byte) (object, error) {
	var tm struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return object{}, err
	}
	gv, err := schema.ParseGroupVersion(tm.APIVersion)
	if err != nil {
		return object{}, err
	}
	gvk := gv.WithKind(tm.Kind)
	if !knownKinds[gvk] {
		return object{}, fmt.Errorf("unknown kind %s: add it to knownKinds, with its checks", gvk)
	}
	var obj any
	if gvk.Group == certManagerV1.Group {
		obj, err = decodeCertManager(gvk, doc)
	} else {
		var got *schema.GroupVersionKind
		obj, got, err = strictCodec.Decode(doc, nil, nil)
		if err == nil && *got != gvk {
			err = fmt.Errorf("decoded as %s, want %s", got, gvk)
		}
	}
	if err != nil {
		return object{}, fmt.Errorf("%s: %w", gvk.Kind, err)
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return object{}, err
	}
	return object{gvk: gvk, name: m.GetName(), namespace: m.GetNamespace(), labels: m.GetLabels(), obj: obj}, nil
}

// render builds dir with kustomize and decodes every resource strictly.
func render(t *testing.T, dir string) rendering {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	r := rendering{dir: dir}
	for _, res := range rm.Resources() {
		doc, err := res.AsYAML()
		if err != nil {
			t.Fatalf("%s: %s: %v", dir, res.CurId(), err)
		}
		o, err := decode(doc)
		if err != nil {
			t.Errorf("%s: %s %s: %v", dir, res.CurId().Kind, res.GetName(), err)
			continue
		}
		r.objects = append(r.objects, o)
	}
	if t.Failed() {
		t.FailNow()
	}
	return r
}

// kustomizations returns every directory under deploy/kubernetes that holds
// a kustomization.yaml.
func kustomizations(t *testing.T) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(kubeDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == "kustomization.yaml" {
			dirs = append(dirs, filepath.Dir(p))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"base", "cluster-issuer", "overlays/production"} {
		if !slices.Contains(dirs, filepath.Join(kubeDir, want)) {
			t.Fatalf("no kustomization in %s/%s (found %q)", kubeDir, want, dirs)
		}
	}
	return dirs
}

// TestManifests_DecodeStrictly renders every kustomization and decodes each
// object into its API type: an unknown field, a wrong type, an unknown kind
// or a removed API version fails.
func TestManifests_DecodeStrictly(t *testing.T) {
	for _, dir := range kustomizations(t) {
		t.Run(dir, func(t *testing.T) {
			r := render(t, dir)
			if len(r.objects) == 0 {
				t.Fatalf("%s renders nothing", dir)
			}
			seen := map[string]bool{}
			for _, o := range r.objects {
				if seen[o.String()] {
					t.Errorf("%s twice", o)
				}
				seen[o.String()] = true
			}
		})
	}
}

// TestStrictDecode_Rejects shows that the decoding above can fail: each
// document is valid YAML with one mistake a reviewer could miss.
func TestStrictDecode_Rejects(t *testing.T) {
	deployment := func(spec string) string {
		return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n" + spec
	}
	tests := []struct {
		name, doc, want string
	}{
		{"UnknownField", deployment("  replica: 2\n"), `unknown field "spec.replica"`},
		{"WrongType", deployment("  replicas: two\n"), "cannot unmarshal"},
		{"NestedUnknownField", deployment("  template:\n    spec:\n      containers:\n        - name: a\n          image: b\n          readinessProbe:\n            httpGet:\n              path: /readyz\n              prot: 8080\n"), "prot"},
		{"DuplicateField", deployment("  replicas: 2\n  replicas: 3\n"), "already set"},
		{"RemovedAPIVersion", "apiVersion: autoscaling/v2beta2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: x\n", "unknown kind"},
		{"UnknownKind", "apiVersion: apps/v1\nkind: Deploiement\nmetadata:\n  name: x\n", "unknown kind"},
		{"CertificateUnknownField", "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata:\n  name: x\nspec:\n  secretName: s\n  dnsName: [a.example.fr]\n  issuerRef: {name: i, kind: ClusterIssuer}\n", "dnsName"},
		{"CertificateMissingIssuer", "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata:\n  name: x\nspec:\n  secretName: s\n  dnsNames: [a.example.fr]\n", "issuerRef"},
		{"ClusterIssuerHTTP01", "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata:\n  name: x\nspec:\n  acme:\n    server: https://acme.example/directory\n    email: a@example.fr\n    privateKeySecretRef: {name: k}\n    solvers:\n      - http01: {ingress: {}}\n", "http01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decode([]byte(tt.doc))
			if err == nil {
				t.Fatalf("decoded without error:\n%s", tt.doc)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

// TestManifests_EveryFileIsRendered fails on a YAML file that no
// kustomization lists, which no other test would ever read.
func TestManifests_EveryFileIsRendered(t *testing.T) {
	listed := map[string]bool{}
	for _, dir := range kustomizations(t) {
		b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var k types.Kustomization
		if err := yaml.UnmarshalStrict(b, &k); err != nil {
			t.Fatalf("%s/kustomization.yaml: %v", dir, err)
		}
		for _, p := range k.Resources {
			listed[filepath.Join(dir, p)] = true
		}
		for _, p := range k.Patches {
			if p.Path != "" {
				listed[filepath.Join(dir, p.Path)] = true
			}
		}
		for _, g := range k.ConfigMapGenerator {
			for _, p := range g.EnvSources {
				listed[filepath.Join(dir, p)] = true
			}
		}
	}
	err := filepath.WalkDir(kubeDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "kustomization.yaml" {
			return err
		}
		if ext := filepath.Ext(p); (ext == ".yaml" || ext == ".yml" || ext == ".env") && !listed[p] {
			t.Errorf("%s is listed by no kustomization.yaml", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestManifests_NoPlaceholderInOverlays: the base's Secret holds
// placeholders; an overlay must never apply them over the real Secret.
func TestManifests_NoPlaceholderInOverlays(t *testing.T) {
	for _, dir := range kustomizations(t) {
		if !strings.HasPrefix(dir, filepath.Join(kubeDir, "overlays")) {
			continue
		}
		t.Run(dir, func(t *testing.T) {
			r := render(t, dir)
			for _, o := range r.objects {
				if _, ok := o.obj.(*corev1.Secret); ok {
					t.Errorf("%s renders %s: create the real Secret out of band", dir, o)
				}
				b, err := yaml.Marshal(o.obj)
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Contains(b, []byte("CHANGE-ME")) {
					t.Errorf("%s: %s carries a CHANGE-ME placeholder", dir, o)
				}
			}
		})
	}
}
