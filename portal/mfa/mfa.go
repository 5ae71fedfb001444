// Package mfa is the second factor of staff and operators: TOTP secrets
// sealed at rest, their QR codes, code checks and recovery codes.
package mfa

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"image/png"
	"net/url"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// Sealer encrypts TOTP secrets at rest with a key derived from the
// platform's secret (AES-256-GCM): a copy of the database alone opens no
// second factor.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer derives the key from secret.
func NewSealer(secret []byte) (*Sealer, error) {
	key := sha256.Sum256(append([]byte("regie totp secrets\x00"), secret...))
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts a secret.
func (s *Sealer) Seal(plain string) (string, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawStdEncoding.EncodeToString(s.aead.Seal(nonce, nonce, []byte(plain), nil)), nil
}

// Open decrypts a sealed secret.
func (s *Sealer) Open(sealed string) (string, error) {
	b, err := base64.RawStdEncoding.DecodeString(sealed)
	if err != nil || len(b) < s.aead.NonceSize() {
		return "", errors.New("mfa: unreadable TOTP secret")
	}
	plain, err := s.aead.Open(nil, b[:s.aead.NonceSize()], b[s.aead.NonceSize():], nil)
	if err != nil {
		return "", errors.New("mfa: TOTP secret sealed with another key")
	}
	return string(plain), nil
}

// Enrollment is a new TOTP secret being set up: the QR code the person
// scans and the key to type if they cannot.
type Enrollment struct {
	Secret string // base32
	URL    string // otpauth://
	QRPNG  []byte
}

// NewEnrollment makes a TOTP secret for an account of issuer.
func NewEnrollment(issuer, account string) (Enrollment, error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: account})
	if err != nil {
		return Enrollment{}, err
	}
	return enrollment(key)
}

// EnrollmentFor rebuilds the enrollment of a secret already made (the
// set-up page shown again after a wrong code).
func EnrollmentFor(issuer, account, secret string) (Enrollment, error) {
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + issuer + ":" + account,
		RawQuery: url.Values{"secret": {secret}, "issuer": {issuer}}.Encode()}
	key, err := otp.NewKeyFromURL(u.String())
	if err != nil {
		return Enrollment{}, err
	}
	return enrollment(key)
}

func enrollment(key *otp.Key) (Enrollment, error) {
	img, err := key.Image(240, 240)
	if err != nil {
		return Enrollment{}, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return Enrollment{}, err
	}
	return Enrollment{Secret: key.Secret(), URL: key.URL(), QRPNG: buf.Bytes()}, nil
}

// ValidCode checks a 6-digit code against a base32 secret at now (one step
// of drift either way).
func ValidCode(secret, code string, now time.Time) bool {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	ok, err := totp.ValidateCustom(code, secret, now, totp.ValidateOpts{Period: 30, Skew: 1, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	return err == nil && ok
}

// NewRecoveryCodes makes ten codes like "k7q2-m9xd", and their hashes
// (what is stored).
func NewRecoveryCodes() (codes, hashes []string, err error) {
	const alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
	for range 10 {
		b := make([]byte, 8)
		if _, err := rand.Read(b); err != nil {
			return nil, nil, err
		}
		c := make([]byte, 0, 9)
		for i, x := range b {
			if i == 4 {
				c = append(c, '-')
			}
			c = append(c, alphabet[int(x)%len(alphabet)])
		}
		codes = append(codes, string(c))
		hashes = append(hashes, HashCode(string(c)))
	}
	return codes, hashes, nil
}

// HashCode is the stored form of a recovery code.
func HashCode(code string) string {
	h := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(code))))
	return base64.RawStdEncoding.EncodeToString(h[:])
}
