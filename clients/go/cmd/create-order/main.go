// Command create-order creates one order against the local stack: a demo user's token from
// the authorization server's token endpoint, then orders.v1.OrdersService/CreateOrder with
// `authorization: Bearer`. It prints the order as JSON.
//
//	go run ./cmd/create-order -sku BOOK-1 -quantity 2 -price 1250 -currency EUR
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"

	zteclient "github.com/zte/clients/go"
	ordersv1 "github.com/zte/clients/go/gen/orders/v1"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "create-order:", err)
		os.Exit(1)
	}
}

// run parses args, creates the order and writes it to out as protojson.
func run(ctx context.Context, args []string, out io.Writer) error {
	flags := flag.NewFlagSet("create-order", flag.ContinueOnError)
	issuer := flags.String("issuer", "http://127.0.0.1:18080", "authorization server issuer URL (token endpoint is {issuer}/token)")
	orders := flags.String("orders", "127.0.0.1:50051", "orders gRPC address")
	user := flags.String("user", "demouser", "demo user name")
	password := flags.String("password", "Password1", "demo user password")
	clientID := flags.String("client-id", "demo-cli", "OAuth client id")
	sku := flags.String("sku", "GO-CLIENT-1", "item SKU")
	quantity := flags.Uint("quantity", 1, "item quantity")
	price := flags.Int64("price", 1000, "unit price in minor units")
	currency := flags.String("currency", "EUR", "ISO 4217 currency code")
	requestID := flags.String("request-id", "", "idempotency key (default: a random UUID)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *requestID == "" {
		*requestID = randomUUID()
	}

	token, err := zteclient.PasswordGrant{
		Issuer: *issuer, ClientID: *clientID, Username: *user, Password: *password, Scope: "orders payments",
	}.Token(ctx, http.DefaultClient)
	if err != nil {
		return err
	}

	conn, err := grpc.NewClient(*orders, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("orders %s: %w", *orders, err)
	}
	defer conn.Close()
	resp, err := ordersv1.NewOrdersServiceClient(conn).CreateOrder(
		zteclient.WithBearer(ctx, token),
		&ordersv1.CreateOrderRequest{
			RequestId: *requestID,
			Items:     []*ordersv1.OrderItem{{Sku: *sku, Quantity: uint32(*quantity), UnitPriceMinor: *price}},
			Currency:  *currency,
		},
	)
	if err != nil {
		return fmt.Errorf("CreateOrder: %w", err)
	}
	text, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(resp.GetOrder())
	if err != nil {
		return fmt.Errorf("print order: %w", err)
	}
	_, err = fmt.Fprintln(out, string(text))
	return err
}

// randomUUID returns a random (version 4) UUID in canonical form.
func randomUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error (Go 1.24+).
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
