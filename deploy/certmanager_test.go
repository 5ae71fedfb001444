package deploy

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	sjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// cert-manager's Go types are not in k8s.io/api, and importing cert-manager
// itself would pull half of Kubernetes. These structs model the part of its
// v1 API that the manifests use, field names as in cert-manager's CRDs; the
// decoding is strict, so a misspelt or unmodelled field fails, and check
// enforces the fields cert-manager requires. A manifest that needs another
// field adds it here, checked against cert-manager's API reference.

var certManagerV1 = schema.GroupVersion{Group: "cert-manager.io", Version: "v1"}

// certificate is a cert-manager.io/v1 Certificate.
type certificate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		SecretName  string   `json:"secretName"`
		CommonName  string   `json:"commonName,omitempty"`
		DNSNames    []string `json:"dnsNames,omitempty"`
		Duration    string   `json:"duration,omitempty"`
		RenewBefore string   `json:"renewBefore,omitempty"`
		IssuerRef   struct {
			Group string `json:"group,omitempty"`
			Kind  string `json:"kind,omitempty"`
			Name  string `json:"name"`
		} `json:"issuerRef"`
		PrivateKey *struct {
			Algorithm      string `json:"algorithm,omitempty"`
			Size           int    `json:"size,omitempty"`
			Encoding       string `json:"encoding,omitempty"`
			RotationPolicy string `json:"rotationPolicy,omitempty"`
		} `json:"privateKey,omitempty"`
	} `json:"spec"`
}

func (c *certificate) check() error {
	s := c.Spec
	var errs []error
	if s.SecretName == "" {
		errs = append(errs, errors.New("spec.secretName is required"))
	}
	if len(s.DNSNames) == 0 && s.CommonName == "" {
		errs = append(errs, errors.New("spec.dnsNames is required"))
	}
	if s.IssuerRef.Name == "" {
		errs = append(errs, errors.New("spec.issuerRef.name is required"))
	}
	if !slices.Contains([]string{"", "Issuer", "ClusterIssuer"}, s.IssuerRef.Kind) {
		errs = append(errs, fmt.Errorf("spec.issuerRef.kind %q is not Issuer or ClusterIssuer", s.IssuerRef.Kind))
	}
	if !slices.Contains([]string{"", certManagerV1.Group}, s.IssuerRef.Group) {
		errs = append(errs, fmt.Errorf("spec.issuerRef.group %q is not %s", s.IssuerRef.Group, certManagerV1.Group))
	}
	if k := s.PrivateKey; k != nil {
		if !slices.Contains([]string{"", "RSA", "ECDSA", "Ed25519"}, k.Algorithm) {
			errs = append(errs, fmt.Errorf("spec.privateKey.algorithm %q is not RSA, ECDSA or Ed25519", k.Algorithm))
		}
		if k.Algorithm == "ECDSA" && !slices.Contains([]int{0, 256, 384, 521}, k.Size) {
			errs = append(errs, fmt.Errorf("spec.privateKey.size %d is not an ECDSA curve size", k.Size))
		}
		if !slices.Contains([]string{"", "Never", "Always"}, k.RotationPolicy) {
			errs = append(errs, fmt.Errorf("spec.privateKey.rotationPolicy %q is not Never or Always", k.RotationPolicy))
		}
	}
	return errors.Join(errs...)
}

// secretKeySelector is cert-manager's reference to one key of a Secret.
type secretKeySelector struct {
	Name string `json:"name"`
	Key  string `json:"key,omitempty"`
}

// clusterIssuer is a cert-manager.io/v1 ClusterIssuer of the ACME type with
// DNS-01 solvers: a wildcard certificate cannot be had over HTTP-01.
type clusterIssuer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		ACME *struct {
			Server              string            `json:"server"`
			Email               string            `json:"email,omitempty"`
			PrivateKeySecretRef secretKeySelector `json:"privateKeySecretRef"`
			Solvers             []struct {
				Selector *struct {
					DNSZones []string `json:"dnsZones,omitempty"`
					DNSNames []string `json:"dnsNames,omitempty"`
				} `json:"selector,omitempty"`
				DNS01 *struct {
					RFC2136 *struct {
						Nameserver          string             `json:"nameserver"`
						Protocol            string             `json:"protocol,omitempty"`
						TSIGKeyName         string             `json:"tsigKeyName,omitempty"`
						TSIGAlgorithm       string             `json:"tsigAlgorithm,omitempty"`
						TSIGSecretSecretRef *secretKeySelector `json:"tsigSecretSecretRef,omitempty"`
					} `json:"rfc2136,omitempty"`
					Webhook *struct {
						GroupName  string          `json:"groupName"`
						SolverName string          `json:"solverName"`
						Config     json.RawMessage `json:"config,omitempty"`
					} `json:"webhook,omitempty"`
				} `json:"dns01,omitempty"`
			} `json:"solvers"`
		} `json:"acme"`
	} `json:"spec"`
}

func (c *clusterIssuer) check() error {
	a := c.Spec.ACME
	if a == nil {
		return errors.New("spec.acme is required")
	}
	var errs []error
	if u, err := url.Parse(a.Server); err != nil || u.Scheme != "https" || u.Host == "" {
		errs = append(errs, fmt.Errorf("spec.acme.server %q is not an https URL", a.Server))
	}
	if a.PrivateKeySecretRef.Name == "" {
		errs = append(errs, errors.New("spec.acme.privateKeySecretRef.name is required"))
	}
	if len(a.Solvers) == 0 {
		errs = append(errs, errors.New("spec.acme.solvers is required"))
	}
	for i, s := range a.Solvers {
		d := s.DNS01
		switch {
		case d == nil:
			errs = append(errs, fmt.Errorf("spec.acme.solvers[%d]: only dns01 solvers issue the wildcard", i))
		case (d.RFC2136 == nil) == (d.Webhook == nil):
			errs = append(errs, fmt.Errorf("spec.acme.solvers[%d].dns01 needs exactly one provider", i))
		case d.RFC2136 != nil:
			r := d.RFC2136
			if r.Nameserver == "" {
				errs = append(errs, fmt.Errorf("spec.acme.solvers[%d].dns01.rfc2136.nameserver is required", i))
			}
			if (r.TSIGKeyName == "") != (r.TSIGSecretSecretRef == nil) {
				errs = append(errs, fmt.Errorf("spec.acme.solvers[%d].dns01.rfc2136: tsigKeyName and tsigSecretSecretRef go together", i))
			}
			if !slices.Contains([]string{"", "HMACMD5", "HMACSHA1", "HMACSHA256", "HMACSHA512"}, r.TSIGAlgorithm) {
				errs = append(errs, fmt.Errorf("spec.acme.solvers[%d].dns01.rfc2136.tsigAlgorithm %q is not supported", i, r.TSIGAlgorithm))
			}
		case d.Webhook != nil:
			if d.Webhook.GroupName == "" || d.Webhook.SolverName == "" {
				errs = append(errs, fmt.Errorf("spec.acme.solvers[%d].dns01.webhook needs groupName and solverName", i))
			}
		}
	}
	return errors.Join(errs...)
}

// decodeCertManager decodes a cert-manager object strictly (unknown,
// duplicate and case-mismatched fields fail) and checks its required fields.
func decodeCertManager(gvk schema.GroupVersionKind, doc []byte) (any, error) {
	var obj interface{ check() error }
	switch gvk.Kind {
	case "Certificate":
		obj = new(certificate)
	case "ClusterIssuer":
		obj = new(clusterIssuer)
	default:
		return nil, fmt.Errorf("no strict check for %s", gvk)
	}
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, err
	}
	strictErrs, err := sjson.UnmarshalStrict(j, obj)
	if err != nil {
		return nil, err
	}
	if len(strictErrs) > 0 {
		return nil, errors.Join(strictErrs...)
	}
	if err := obj.check(); err != nil {
		return nil, err
	}
	return obj, nil
}
