package deploy

import (
	"net/url"
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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// namespace is where every namespaced object of Régie lives.
const namespace = "regie"

// all returns the rendered objects of type T.
func all[T any](r rendering) []T {
	var out []T
	for _, o := range r.objects {
		if v, ok := o.obj.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// named returns the one object of type T called name.
func named[T interface{ GetName() string }](t *testing.T, r rendering, name string) T {
	t.Helper()
	for _, v := range all[T](r) {
		if v.GetName() == name {
			return v
		}
	}
	var zero T
	t.Fatalf("%s: no %T named %q", r.dir, zero, name)
	return zero
}

// selects reports whether sel matches the labels of a pod template.
func selects(t *testing.T, sel *metav1.LabelSelector, pod map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatalf("selector %v: %v", sel, err)
	}
	return !s.Empty() && s.Matches(labels.Set(pod))
}

// TestManifests_Invariants checks, on the base and on every overlay, what
// the platform relies on beyond valid syntax.
func TestManifests_Invariants(t *testing.T) {
	for _, dir := range kustomizations(t) {
		if dir == filepath.Join(kubeDir, "cluster-issuer") {
			continue
		}
		t.Run(dir, func(t *testing.T) {
			r := render(t, dir)
			issuers := render(t, filepath.Join(kubeDir, "cluster-issuer"))
			checkNamespaces(t, r)
			web := named[*appsv1.Deployment](t, r, "regie-web")
			worker := named[*appsv1.Deployment](t, r, "regie-worker")
			job := named[*batchv1.Job](t, r, "regie-migrate")

			checkWeb(t, web)
			checkArgs(t, "regie-worker", worker.Spec.Template.Spec, "worker")
			checkArgs(t, "regie-migrate", job.Spec.Template.Spec, "migrate")
			if p := job.Spec.Template.Spec.RestartPolicy; p != corev1.RestartPolicyNever {
				t.Errorf("regie-migrate restartPolicy %q, want Never (the Job retries)", p)
			}
			pods := map[string]corev1.PodTemplateSpec{
				"regie-web": web.Spec.Template, "regie-worker": worker.Spec.Template, "regie-migrate": job.Spec.Template,
			}
			image := web.Spec.Template.Spec.Containers[0].Image
			for name, pod := range pods {
				checkPod(t, name, pod.Spec, image)
				checkEnvRefs(t, r, name, pod.Spec)
			}
			for _, d := range []*appsv1.Deployment{web, worker} {
				if !selects(t, d.Spec.Selector, d.Spec.Template.Labels) {
					t.Errorf("%s: selector %v does not match its pods %v", d.Name, d.Spec.Selector, d.Spec.Template.Labels)
				}
			}
			checkWebTargets(t, r, web, worker)
			checkIngress(t, r, issuers)
			checkMigrateSelection(t, r)
		})
	}
}

func checkNamespaces(t *testing.T, r rendering) {
	t.Helper()
	for _, o := range r.objects {
		switch o.gvk.Kind {
		case "Namespace":
			if o.name != namespace {
				t.Errorf("Namespace %q, want %q", o.name, namespace)
			}
		default:
			if o.namespace != namespace {
				t.Errorf("%s is in namespace %q, want %q", o, o.namespace, namespace)
			}
		}
		if o.labels["app.kubernetes.io/part-of"] != "regie" {
			t.Errorf("%s lacks the label app.kubernetes.io/part-of=regie", o)
		}
	}
}

// checkArgs: the container runs the regie subcommand given (the image's
// ENTRYPOINT is /regie).
func checkArgs(t *testing.T, name string, pod corev1.PodSpec, args ...string) {
	t.Helper()
	if len(pod.Containers) != 1 {
		t.Fatalf("%s: %d containers, want 1", name, len(pod.Containers))
	}
	c := pod.Containers[0]
	if len(c.Command) != 0 || !slices.Equal(c.Args, args) {
		t.Errorf("%s runs command %q args %q, want args %q", name, c.Command, c.Args, args)
	}
}

func checkWeb(t *testing.T, web *appsv1.Deployment) {
	t.Helper()
	if web.Spec.Replicas == nil || *web.Spec.Replicas < 2 {
		t.Fatal("regie-web replicas unset or below 2")
	}
	checkArgs(t, "regie-web", web.Spec.Template.Spec, "serve", "--web-only")
	if ru := web.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
		t.Errorf("regie-web rollingUpdate %+v: want maxUnavailable 0, so old pods serve until new ones are ready", ru)
	}
	if len(web.Spec.Template.Spec.TopologySpreadConstraints) == 0 {
		t.Error("regie-web has no topologySpreadConstraints: its replicas may share one node")
	}
	c := web.Spec.Template.Spec.Containers[0]
	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != 8080 || c.Ports[0].Name != "http" {
		t.Errorf("regie-web ports %+v, want one port http 8080 (REGIE_LISTEN :8080)", c.Ports)
	}
	for _, p := range []struct {
		kind  string
		probe *corev1.Probe
		path  string
	}{{"readinessProbe", c.ReadinessProbe, "/readyz"}, {"livenessProbe", c.LivenessProbe, "/healthz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("regie-web %s: want an httpGet on %s", p.kind, p.path)
			continue
		}
		g := p.probe.HTTPGet
		if g.Path != p.path || g.Port.String() != "http" {
			t.Errorf("regie-web %s on %s port %s, want %s port http", p.kind, g.Path, g.Port.String(), p.path)
		}
		for _, h := range g.HTTPHeaders {
			if strings.EqualFold(h.Name, "Host") && !strings.HasSuffix(h.Value, ".invalid") {
				t.Errorf("regie-web %s Host %q: use a host that can never be a commune (*.invalid)", p.kind, h.Value)
			}
		}
	}
}

// checkPod: requests and a memory limit, non-root, read-only, no
// capabilities, RuntimeDefault seccomp, no service account token.
func checkPod(t *testing.T, name string, pod corev1.PodSpec, image string) {
	t.Helper()
	sc := pod.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Errorf("%s: pod securityContext.runAsNonRoot is not true", name)
	}
	if sc == nil || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod seccompProfile is not RuntimeDefault", name)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("%s: automountServiceAccountToken is not false", name)
	}
	for _, c := range pod.Containers {
		if c.Image != image {
			t.Errorf("%s: image %q, want the web's %q (one image for all)", name, c.Image, image)
		}
		if i := strings.LastIndex(c.Image, ":"); i < 0 || strings.Contains(c.Image[i:], "/") || c.Image[i+1:] == "latest" {
			t.Errorf("%s: image %q has no pinned tag", name, c.Image)
		}
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := c.Resources.Requests[res]; !ok || q.IsZero() {
				t.Errorf("%s: no %s request", name, res)
			}
		}
		if q, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok || q.IsZero() {
			t.Errorf("%s: no memory limit", name)
		}
		s := c.SecurityContext
		switch {
		case s == nil:
			t.Errorf("%s: container has no securityContext", name)
		case s.AllowPrivilegeEscalation == nil || *s.AllowPrivilegeEscalation:
			t.Errorf("%s: allowPrivilegeEscalation is not false", name)
		case s.ReadOnlyRootFilesystem == nil || !*s.ReadOnlyRootFilesystem:
			t.Errorf("%s: readOnlyRootFilesystem is not true", name)
		case s.Capabilities == nil || !slices.Equal(s.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(s.Capabilities.Add) > 0:
			t.Errorf("%s: capabilities %+v, want drop [ALL] and nothing added", name, s.Capabilities)
		}
	}
}

// checkEnvRefs: every ConfigMap and Secret the pod reads is rendered, or is
// regie-secrets, which overlays create out of band.
func checkEnvRefs(t *testing.T, r rendering, name string, pod corev1.PodSpec) {
	t.Helper()
	have := map[string]bool{"Secret/regie-secrets": true}
	for _, o := range r.objects {
		have[o.gvk.Kind+"/"+o.name] = true
	}
	for _, c := range pod.Containers {
		var refs []string
		for _, e := range c.EnvFrom {
			if e.ConfigMapRef != nil {
				refs = append(refs, "ConfigMap/"+e.ConfigMapRef.Name)
			}
			if e.SecretRef != nil {
				refs = append(refs, "Secret/"+e.SecretRef.Name)
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				refs = append(refs, "Secret/"+e.ValueFrom.SecretKeyRef.Name)
			}
			if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
				refs = append(refs, "ConfigMap/"+e.ValueFrom.ConfigMapKeyRef.Name)
			}
		}
		if len(refs) == 0 {
			t.Errorf("%s reads no configuration", name)
		}
		for _, ref := range refs {
			if !have[ref] {
				t.Errorf("%s reads %s, which is not rendered", name, ref)
			}
		}
	}
}

// checkWebTargets: the Service, PDB, HPA and NetworkPolicy point at the web
// pods and not at the worker.
func checkWebTargets(t *testing.T, r rendering, web, worker *appsv1.Deployment) {
	t.Helper()
	webPods, workerPods := web.Spec.Template.Labels, worker.Spec.Template.Labels

	svc := named[*corev1.Service](t, r, "regie-web")
	sel := &metav1.LabelSelector{MatchLabels: svc.Spec.Selector}
	if !selects(t, sel, webPods) || selects(t, sel, workerPods) {
		t.Errorf("Service regie-web selector %v does not pick the web pods alone", svc.Spec.Selector)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "http" || svc.Spec.Ports[0].TargetPort.String() != "http" {
		t.Errorf("Service regie-web ports %+v, want http → targetPort http", svc.Spec.Ports)
	}

	pdb := named[*policyv1.PodDisruptionBudget](t, r, "regie-web")
	if !selects(t, pdb.Spec.Selector, webPods) || selects(t, pdb.Spec.Selector, workerPods) {
		t.Errorf("PodDisruptionBudget selector %v does not pick the web pods alone", pdb.Spec.Selector)
	}
	if pdb.Spec.MinAvailable == nil && pdb.Spec.MaxUnavailable == nil {
		t.Error("PodDisruptionBudget sets neither minAvailable nor maxUnavailable")
	}

	hpa := named[*autoscalingv2.HorizontalPodAutoscaler](t, r, "regie-web")
	ref := hpa.Spec.ScaleTargetRef
	if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || ref.Name != web.Name {
		t.Errorf("HPA targets %+v, want Deployment regie-web", ref)
	}
	if hpa.Spec.MinReplicas == nil || web.Spec.Replicas == nil {
		t.Fatal("HPA minReplicas or regie-web replicas unset")
	}
	if minR := *hpa.Spec.MinReplicas; minR < 2 || minR != *web.Spec.Replicas {
		t.Errorf("HPA minReplicas %d, want at least 2 and equal to regie-web's replicas %d", minR, *web.Spec.Replicas)
	}
	if hpa.Spec.MaxReplicas <= *hpa.Spec.MinReplicas {
		t.Errorf("HPA maxReplicas %d leaves no room above minReplicas %d", hpa.Spec.MaxReplicas, *hpa.Spec.MinReplicas)
	}
	cpu := slices.ContainsFunc(hpa.Spec.Metrics, func(m autoscalingv2.MetricSpec) bool {
		return m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU
	})
	if !cpu {
		t.Error("HPA has no CPU metric")
	}

	np := named[*networkingv1.NetworkPolicy](t, r, "regie-web-from-ingress")
	if !selects(t, &np.Spec.PodSelector, webPods) || selects(t, &np.Spec.PodSelector, workerPods) {
		t.Errorf("NetworkPolicy regie-web-from-ingress selects %v, want the web pods alone", np.Spec.PodSelector)
	}
}

// checkIngress: the base host and its wildcard, from REGIE_BASE_URL, are
// routed to the web Service and served with the wildcard certificate of a
// DNS-01 ClusterIssuer.
func checkIngress(t *testing.T, r, issuers rendering) {
	t.Helper()
	cms := all[*corev1.ConfigMap](r)
	if len(cms) != 1 {
		t.Fatalf("%d ConfigMaps, want 1", len(cms))
	}
	base, err := url.Parse(cms[0].Data["REGIE_BASE_URL"])
	if err != nil || base.Scheme != "https" || base.Port() != "" {
		t.Fatalf("REGIE_BASE_URL %q: want https://HOST, the host the Ingress serves", cms[0].Data["REGIE_BASE_URL"])
	}
	host := base.Hostname()
	hosts := []string{host, "*." + host}

	ing := named[*networkingv1.Ingress](t, r, "regie")
	var ruleHosts []string
	for _, rule := range ing.Spec.Rules {
		ruleHosts = append(ruleHosts, rule.Host)
		if rule.HTTP == nil || len(rule.HTTP.Paths) != 1 {
			t.Errorf("Ingress rule %s: want one path", rule.Host)
			continue
		}
		p := rule.HTTP.Paths[0]
		b := p.Backend.Service
		if p.Path != "/" || p.PathType == nil || *p.PathType != networkingv1.PathTypePrefix || b == nil || b.Name != "regie-web" || b.Port.Name != "http" {
			t.Errorf("Ingress rule %s: want Prefix / to service regie-web port http, got %+v", rule.Host, p)
		}
	}
	if !slices.Equal(ruleHosts, hosts) {
		t.Errorf("Ingress hosts %q, want %q (REGIE_BASE_URL)", ruleHosts, hosts)
	}
	if len(ing.Spec.TLS) != 1 || !slices.Equal(ing.Spec.TLS[0].Hosts, hosts) {
		t.Fatalf("Ingress tls %+v, want one entry for %q", ing.Spec.TLS, hosts)
	}

	cert := named[*certificate](t, r, "regie-wildcard")
	if cert.Spec.SecretName != ing.Spec.TLS[0].SecretName {
		t.Errorf("Certificate writes %q, the Ingress reads %q", cert.Spec.SecretName, ing.Spec.TLS[0].SecretName)
	}
	if !slices.Equal(cert.Spec.DNSNames, hosts) {
		t.Errorf("Certificate dnsNames %q, want %q", cert.Spec.DNSNames, hosts)
	}
	if cert.Spec.IssuerRef.Kind != "ClusterIssuer" {
		t.Fatalf("Certificate issuerRef kind %q, want ClusterIssuer", cert.Spec.IssuerRef.Kind)
	}
	issuer := named[*clusterIssuer](t, issuers, cert.Spec.IssuerRef.Name)
	if issuer.Namespace != "" {
		t.Errorf("ClusterIssuer %s has namespace %q; it is cluster-scoped", issuer.Name, issuer.Namespace)
	}
}

// checkMigrateSelection: README's rollout applies the objects labelled
// component config or migrate first, runs the Job, then applies the rest.
// That selection must hold what the Job needs and no Deployment.
func checkMigrateSelection(t *testing.T, r rendering) {
	t.Helper()
	var kinds []string
	for _, o := range r.objects {
		if c := o.labels["app.kubernetes.io/component"]; c == "config" || c == "migrate" {
			kinds = append(kinds, o.gvk.Kind)
		}
	}
	for _, want := range []string{"Namespace", "ServiceAccount", "ConfigMap", "Job"} {
		if !slices.Contains(kinds, want) {
			t.Errorf("the migrate selection (component in (config,migrate)) lacks a %s; it has %q", want, kinds)
		}
	}
	if slices.Contains(kinds, "Deployment") {
		t.Error("the migrate selection holds a Deployment: it would roll out before the migration")
	}
}
