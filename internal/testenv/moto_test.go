package testenv_test

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/jitbot/jitbot/internal/testenv"
)

func TestMoto(t *testing.T) {
	var addr string
	t.Run("serves iam and sts, and resets", func(t *testing.T) {
		m := testenv.StartMoto(t)
		addr = strings.TrimPrefix(m.URL(), "http://")
		if !strings.HasPrefix(addr, "127.0.0.1:") {
			t.Fatalf("URL() = %q, want a loopback address", m.URL())
		}
		cfg := testenv.AWSConfig(t, m.URL())
		client := iam.NewFromConfig(cfg)
		if _, err := client.CreateUser(t.Context(), &iam.CreateUserInput{UserName: aws.String("alice")}); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		id, err := sts.NewFromConfig(cfg).GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
		if err != nil || aws.ToString(id.Account) == "" {
			t.Fatalf("GetCallerIdentity = %v, %v", id, err)
		}

		m.Reset(t)
		_, err = client.GetUser(t.Context(), &iam.GetUserInput{UserName: aws.String("alice")})
		var nse *iamtypes.NoSuchEntityException
		if !errors.As(err, &nse) {
			t.Errorf("GetUser after Reset = %v, want NoSuchEntity", err)
		}
	})
	// The subtest's cleanup has stopped the server.
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Errorf("moto_server still accepts connections on %s after the test ended", addr)
	}
}

// TestMotoAccounts: what the multi-account tests rely on. Credentials of
// AccountConfig act in that account, whose IAM is its own; the default
// credentials act in moto's default account.
func TestMotoAccounts(t *testing.T) {
	m := testenv.StartMoto(t)
	member := m.AccountConfig(t, "222222222222")
	id, err := sts.NewFromConfig(member).GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(id.Account) != "222222222222" {
		t.Fatalf("GetCallerIdentity with AccountConfig = %v, %v; want account 222222222222", id, err)
	}
	if _, err := iam.NewFromConfig(member).CreateUser(t.Context(), &iam.CreateUserInput{UserName: aws.String("bob")}); err != nil {
		t.Fatalf("CreateUser in 222222222222: %v", err)
	}
	_, err = iam.NewFromConfig(testenv.AWSConfig(t, m.URL())).GetUser(t.Context(), &iam.GetUserInput{UserName: aws.String("bob")})
	var nse *iamtypes.NoSuchEntityException
	if !errors.As(err, &nse) {
		t.Errorf("GetUser of 222222222222's user in the default account = %v, want NoSuchEntity", err)
	}
}
