package zteclient_test

// The shared hash test vectors (proto/testdata/order_created_vectors.json) hold in Go: the
// message built from each vector's fields marshals (deterministically) to exactly the
// recorded bytes, their SHA-256 is the recorded hash, and unmarshalling the bytes gives the
// same message back.

import (
	"encoding/hex"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	zteclient "github.com/zte/clients/go"
	eventsv1 "github.com/zte/clients/go/gen/events/v1"
)

type vectorFile struct {
	Vectors []vector `json:"vectors"`
}

type vector struct {
	Name       string `json:"name"`
	Fields     fields `json:"fields"`
	EncodedHex string `json:"encoded_hex"`
	SHA256     string `json:"sha256"`
}

// 64-bit integers are decimal strings in the file (proto3 JSON mapping), hence `,string`.
type fields struct {
	OrderTransactionID string `json:"order_transaction_id"`
	UserID             string `json:"user_id"`
	CreatedAt          *struct {
		Seconds int64 `json:"seconds,string"`
		Nanos   int32 `json:"nanos"`
	} `json:"created_at"`
	Items []struct {
		SKU            string `json:"sku"`
		Quantity       uint32 `json:"quantity"`
		UnitPriceMinor int64  `json:"unit_price_minor,string"`
	} `json:"items"`
	Currency   string `json:"currency"`
	TotalMinor int64  `json:"total_minor,string"`
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	var file vectorFile
	readTestdata(t, "order_created_vectors.json", &file)
	if len(file.Vectors) < 6 {
		t.Fatalf("want at least 6 vectors, got %d", len(file.Vectors))
	}
	return file.Vectors
}

func messageFromFields(f fields) *eventsv1.OrderCreated {
	m := &eventsv1.OrderCreated{
		OrderTransactionId: f.OrderTransactionID,
		UserId:             f.UserID,
		Currency:           f.Currency,
		TotalMinor:         f.TotalMinor,
	}
	if f.CreatedAt != nil {
		m.CreatedAt = &timestamppb.Timestamp{Seconds: f.CreatedAt.Seconds, Nanos: f.CreatedAt.Nanos}
	}
	for _, it := range f.Items {
		m.Items = append(m.Items, &eventsv1.OrderItem{Sku: it.SKU, Quantity: it.Quantity, UnitPriceMinor: it.UnitPriceMinor})
	}
	return m
}

func TestMarshallingVectorFieldsGivesExactlyItsBytesAndHash(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			encoded, err := proto.MarshalOptions{Deterministic: true}.Marshal(messageFromFields(v.Fields))
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			if got := hex.EncodeToString(encoded); got != v.EncodedHex {
				t.Errorf("bytes:\n got %s\nwant %s", got, v.EncodedHex)
			}
			if got := zteclient.PayloadHash(encoded); got != v.SHA256 {
				t.Errorf("hash: got %s want %s", got, v.SHA256)
			}
		})
	}
}

func TestHashOfRecordedVectorBytesIsItsSHA256(t *testing.T) {
	for _, v := range loadVectors(t) {
		raw, err := hex.DecodeString(v.EncodedHex)
		if err != nil {
			t.Fatalf("%s: encoded_hex: %v", v.Name, err)
		}
		if got := zteclient.PayloadHash(raw); got != v.SHA256 {
			t.Errorf("%s: got %s want %s", v.Name, got, v.SHA256)
		}
	}
}

func TestUnmarshallingVectorBytesGivesBackItsFields(t *testing.T) {
	for _, v := range loadVectors(t) {
		raw, err := hex.DecodeString(v.EncodedHex)
		if err != nil {
			t.Fatalf("%s: encoded_hex: %v", v.Name, err)
		}
		var got eventsv1.OrderCreated
		if err := proto.Unmarshal(raw, &got); err != nil {
			t.Fatalf("%s: unmarshal: %v", v.Name, err)
		}
		if want := messageFromFields(v.Fields); !proto.Equal(&got, want) {
			t.Errorf("%s: got %v want %v", v.Name, &got, want)
		}
	}
}
