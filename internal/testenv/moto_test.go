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
