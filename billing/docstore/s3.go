package docstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3 keeps documents in an S3-compatible bucket.
type S3 struct {
	client *s3.Client
	bucket string
}

// NewS3 reads s3://bucket?endpoint=…&region=…&path_style=true; credentials
// come from the SDK's standard chain (AWS_ACCESS_KEY_ID, …).
func NewS3(ctx context.Context, u *url.URL) (*S3, error) {
	q := u.Query()
	region := q.Get("region")
	if region == "" {
		region = "us-east-1"
	}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
	if err != nil {
		return nil, fmt.Errorf("docstore: s3 config: %w", err)
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if ep := q.Get("endpoint"); ep != "" {
			o.BaseEndpoint = aws.String(ep)
		}
		o.UsePathStyle = q.Get("path_style") == "true"
		// S3-compatible servers do not all support the new default checksums
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	return &S3{client: client, bucket: u.Host}, nil
}

// Put implements Store. The SDK signs the payload, which needs a body it
// can read twice: anything else is read into memory first (documents are
// invoices and logos, small).
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	if _, ok := r.(io.ReadSeeker); !ok {
		b, err := io.ReadAll(r)
		if err != nil {
			return fmt.Errorf("docstore: put %s: %w", key, err)
		}
		r, size = bytes.NewReader(b), int64(len(b))
	}
	in := &s3.PutObjectInput{Bucket: &s.bucket, Key: &key, Body: r, ContentType: &contentType}
	if size >= 0 {
		in.ContentLength = &size
	}
	if _, err := s.client.PutObject(ctx, in); err != nil {
		return fmt.Errorf("docstore: put %s: %w", key, err)
	}
	return nil
}

// Get implements Store.
func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		var nsk *types.NoSuchKey
		var api smithy.APIError
		if errors.As(err, &nsk) || errors.As(err, &api) && (api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound") {
			return nil, Info{}, ErrNotFound
		}
		return nil, Info{}, fmt.Errorf("docstore: get %s: %w", key, err)
	}
	info := Info{Size: aws.ToInt64(out.ContentLength), ContentType: aws.ToString(out.ContentType)}
	return out.Body, info, nil
}

// Delete implements Store.
func (s *S3) Delete(ctx context.Context, key string) error {
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key}); err != nil {
		return fmt.Errorf("docstore: delete %s: %w", key, err)
	}
	return nil
}
