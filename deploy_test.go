package ilostoken_test

import (
	"encoding/json"
	"errors"
	"maps"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/serverless"
	"github.com/awslabs/goformation/v7/intrinsics"

	"github.com/ilostoken/ilostoken/config"
	"github.com/ilostoken/ilostoken/handler"
)

// The tests below read template.yaml the way CloudFormation would for one
// set of parameter values, then check what a deployment of it gets.

const (
	templateFile = "template.yaml"
	envFile      = "env.json"
	functionName = "TokenFunction"
	apiName      = "TokenApi"
	roleName     = "TokenFunctionRole"
	logGroupName = "TokenLogGroup"

	exampleSecretARN = "arn:aws:secretsmanager:us-east-1:123456789012:" +
		"secret:ilos/api-key-AbCdEf"
	exampleKMSKeyARN = "arn:aws:kms:us-east-1:123456789012:" +
		"key/1234abcd-12ab-34cd-56ef-1234567890ab"
	exampleIssuer = "https://cognito-idp.us-east-1.amazonaws.com/" +
		"us-east-1_Example"
)

// requiredParams are values for the parameters that have no default.
func requiredParams() map[string]any {
	return map[string]any{
		"IlosSecretArn":  exampleSecretARN,
		"AllowedOrigins": "https://app.example.com",
	}
}

// withParams returns the required parameters plus more.
func withParams(more map[string]any) map[string]any {
	p := requiredParams()
	maps.Copy(p, more)
	return p
}

// deployment is template.yaml resolved for one set of parameter values.
type deployment struct {
	*cloudformation.Template

	// extra holds the properties goformation does not model, by
	// "Resource.Property".
	extra map[string]any
}

// unmodelled lists the properties goformation's SAM model does not know and
// would refuse; the tests take them out and check them by hand.
//
// TODO(goformation): drop an entry once goformation models it.
var unmodelled = map[string][]string{
	functionName: {"LoggingConfig"},
}

// resolve reads template.yaml for params as CloudFormation would: it
// evaluates the conditions, resolves Fn::If, parameter references and
// AWS::NoValue, and leaves references to resources as "ref:Name" and
// "getatt:Name.Attribute" so that the wiring can be checked.
func resolve(t *testing.T, params map[string]any) deployment {
	t.Helper()
	raw, err := os.ReadFile(templateFile)
	if err != nil {
		t.Fatal(err)
	}

	// goformation evaluates Fn::If only against conditions it resolved in
	// a pass of its own, and then replaces every resource that carries a
	// Condition with a boolean; so resolve the conditions first, alone.
	first, err := intrinsics.ProcessYAML(raw,
		&intrinsics.ProcessorOptions{ParameterOverrides: params})
	if err != nil {
		t.Fatalf("process %s: %v", templateFile, err)
	}
	var doc struct {
		Conditions map[string]any
		Resources  map[string]any
	}
	if err := json.Unmarshal(first, &doc); err != nil {
		t.Fatal(err)
	}
	conds := map[string]bool{}
	for name, v := range doc.Conditions {
		b, ok := v.(bool)
		if !ok {
			t.Fatalf("condition %s resolved to %v, want a boolean", name, v)
		}
		conds[name] = b
	}

	r := resolver{t: t, conds: conds, resources: doc.Resources}
	second, err := intrinsics.ProcessYAML(raw, &intrinsics.ProcessorOptions{
		ParameterOverrides: params,
		IntrinsicHandlerOverrides: map[string]intrinsics.IntrinsicHandler{
			"Ref":        r.ref,
			"Fn::GetAtt": r.getAtt,
			"Fn::Sub":    r.sub,
			"Fn::If":     r.fnIf,
		},
	})
	if err != nil {
		t.Fatalf("process %s: %v", templateFile, err)
	}

	var tree map[string]any
	if err := json.Unmarshal(second, &tree); err != nil {
		t.Fatal(err)
	}
	tree = dropNoValue(tree).(map[string]any)
	d := deployment{extra: map[string]any{}}
	resources, _ := tree["Resources"].(map[string]any)
	for name, props := range unmodelled {
		p, _ := dig(resources, name, "Properties").(map[string]any)
		for _, prop := range props {
			d.extra[name+"."+prop] = p[prop]
			delete(p, prop)
		}
	}

	out, err := json.Marshal(tree)
	if err != nil {
		t.Fatal(err)
	}
	d.Template, err = goformation.ParseJSONWithOptions(out,
		&intrinsics.ProcessorOptions{NoProcess: true})
	if err != nil {
		t.Fatalf("goformation: %v", err)
	}
	return d
}

// resolver resolves the intrinsic functions whose result depends on other
// resources or on conditions.
type resolver struct {
	t         *testing.T
	conds     map[string]bool
	resources map[string]any
}

func (r resolver) ref(name string, input, tpl any) any {
	s, _ := input.(string)
	if _, ok := r.resources[s]; ok {
		return "ref:" + s
	}
	if v, ok := morePseudoParams[s]; ok {
		return v
	}
	v := intrinsics.Ref(name, input, tpl)
	if v == nil && s != "AWS::NoValue" {
		r.t.Errorf("Ref %v resolves to nothing", input)
	}
	return v
}

// morePseudoParams are the pseudo parameters goformation does not know, as
// us-east-1 has them.
var morePseudoParams = map[string]string{
	"AWS::Partition": "aws",
	"AWS::URLSuffix": "amazonaws.com",
}

func (r resolver) getAtt(_ string, input, _ any) any {
	switch v := input.(type) {
	case []any:
		if len(v) == 2 {
			return "getatt:" + v[0].(string) + "." + v[1].(string)
		}
	case string:
		return "getatt:" + v
	}
	r.t.Errorf("Fn::GetAtt %v is malformed", input)
	return nil
}

var subVar = regexp.MustCompile(`\$\{([A-Za-z0-9:.]+)\}`)

func (r resolver) sub(name string, input, tpl any) any {
	s, ok := input.(string)
	if !ok {
		r.t.Errorf("Fn::Sub %v: want the one-string form", input)
		return nil
	}
	return subVar.ReplaceAllStringFunc(s, func(m string) string {
		v := m[2 : len(m)-1]
		var got any
		if res, att, ok := strings.Cut(v, "."); ok {
			got = r.getAtt(name, []any{res, att}, tpl)
		} else {
			got = r.ref(name, v, tpl)
		}
		str, _ := got.(string)
		return str
	})
}

func (r resolver) fnIf(_ string, input, _ any) any {
	args, ok := input.([]any)
	if !ok || len(args) != 3 {
		r.t.Errorf("Fn::If %v is malformed", input)
		return nil
	}
	name, _ := args[0].(string)
	v, ok := r.conds[name]
	if !ok {
		r.t.Errorf("Fn::If names unknown condition %q", name)
		return nil
	}
	if v {
		return args[1]
	}
	return args[2]
}

// dropNoValue removes the nulls that AWS::NoValue left, as CloudFormation
// removes the property or list item.
func dropNoValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if e == nil {
				delete(v, k)
				continue
			}
			v[k] = dropNoValue(e)
		}
	case []any:
		out := v[:0]
		for _, e := range v {
			if e != nil {
				out = append(out, dropNoValue(e))
			}
		}
		return out
	}
	return v
}

func (d deployment) function(t *testing.T) *serverless.Function {
	t.Helper()
	fn, err := d.GetServerlessFunctionWithName(functionName)
	if err != nil {
		t.Fatal(err)
	}
	return fn
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func TestTemplateFunction(t *testing.T) {
	d := resolve(t, requiredParams())
	fn := d.function(t)

	checks := []struct {
		name      string
		got, want any
	}{
		{"Runtime", deref(fn.Runtime), "provided.al2023"},
		{"Architectures", fn.Architectures, []string{"arm64"}},
		{"Handler", deref(fn.Handler), "bootstrap"},
		{"CodeUri", deref(deref(fn.CodeUri).String), "."},
		{"BuildMethod", fn.AWSCloudFormationMetadata["BuildMethod"],
			"makefile"},
		{"Role", deref(fn.Role), "getatt:" + roleName + ".Arn"},
		{"Policies", fn.Policies, (*serverless.Function_Policies)(nil)},
		{"ReservedConcurrentExecutions", fn.ReservedConcurrentExecutions,
			(*int)(nil)},
		{"LoggingConfig", d.extra[functionName+".LoggingConfig"],
			map[string]any{"LogFormat": "JSON",
				"LogGroup": "ref:" + logGroupName}},
	}
	for _, c := range checks {
		if !equalJSON(c.got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}

	if m := deref(fn.MemorySize); m < 128 || m > 256 {
		t.Errorf("MemorySize: got %d, want 128 to 256", m)
	}

	// The handler answers a reserve before the deadline, and one ilos call
	// must fit inside what is left; API Gateway gives up after 30 s.
	timeout := time.Duration(deref(fn.Timeout)) * time.Second
	ilosTimeout, err := time.ParseDuration(
		fn.Environment.Variables[config.EnvTimeout])
	if err != nil {
		t.Fatalf("%s: %v", config.EnvTimeout, err)
	}
	if timeout < ilosTimeout+handler.DefaultReserve+time.Second ||
		timeout >= 30*time.Second {
		t.Errorf("Timeout: got %v, want over %v + %v + 1s and under 30s",
			timeout, config.EnvTimeout, handler.DefaultReserve)
	}

	logs, err := d.GetLogsLogGroupWithName(logGroupName)
	if err != nil {
		t.Fatal(err)
	}
	if got := deref(logs.RetentionInDays); got != 30 {
		t.Errorf("RetentionInDays: got %d, want the default 30", got)
	}
}

// equalJSON compares two values by their JSON form.
func equalJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

func TestTemplateReservedConcurrency(t *testing.T) {
	d := resolve(t, withParams(map[string]any{"ReservedConcurrency": 5}))
	if got := deref(d.function(t).ReservedConcurrentExecutions); got != 5 {
		t.Errorf("ReservedConcurrentExecutions: got %d, want 5", got)
	}
}

func TestTemplateEnvironment(t *testing.T) {
	fn := resolve(t, requiredParams()).function(t)
	if fn.Environment == nil {
		t.Fatal("the function declares no environment")
	}
	vars := fn.Environment.Variables
	want := slices.Sorted(slices.Values(config.Names()))
	if got := slices.Sorted(maps.Keys(vars)); !slices.Equal(got, want) {
		t.Errorf("template variables: got %v, want config.Names() %v",
			got, want)
	}

	// The defaults deploy a function that starts.
	if _, err := config.Parse(lookupIn(vars)); err != nil {
		t.Errorf("the template's environment does not parse: %v", err)
	}

	local := readEnvJSON(t)
	if got := slices.Sorted(maps.Keys(local)); !slices.Equal(got, want) {
		t.Errorf("%s variables: got %v, want config.Names() %v",
			envFile, got, want)
	}
	if _, err := config.Parse(lookupIn(local)); err != nil {
		t.Errorf("%s does not parse: %v", envFile, err)
	}
}

// readEnvJSON returns the variables env.json sets for the function, which
// must be the only function it names.
func readEnvJSON(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatal(err)
	}
	var env map[string]map[string]string
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatalf("%s: %v", envFile, err)
	}
	if got := slices.Collect(maps.Keys(env)); !slices.Equal(got,
		[]string{functionName}) {
		t.Fatalf("%s names functions %v, want [%s]", envFile, got,
			functionName)
	}
	return env[functionName]
}

func lookupIn(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestTemplateParameters(t *testing.T) {
	d := resolve(t, requiredParams())
	examples := withParams(map[string]any{
		"KmsKeyArn":   exampleKMSKeyARN,
		"JwtIssuer":   exampleIssuer,
		"JwtAudience": "client-a,client-b",
	})
	for _, name := range []string{"IlosSecretArn", "IlosKeyType",
		"AllowedOrigins", "ClientOptions", "IlosTokenOptions", "KmsKeyArn",
		"JwtIssuer", "JwtAudience", "ThrottlingRateLimit",
		"ThrottlingBurstLimit", "ReservedConcurrency", "LogRetentionDays"} {
		if _, ok := d.Parameters[name]; !ok {
			t.Errorf("parameter %s is missing", name)
		}
	}
	for name, p := range d.Parameters {
		if len(deref(p.Description)) < 20 {
			t.Errorf("parameter %s: description %q says too little", name,
				deref(p.Description))
		}
		if p.AllowedPattern == nil && p.AllowedValues == nil &&
			p.MinValue == nil {
			t.Errorf("parameter %s: no allowed values, pattern or minimum",
				name)
		}
		if p.AllowedPattern == nil {
			continue
		}
		re, err := regexp.Compile("^(?:" + *p.AllowedPattern + ")$")
		if err != nil {
			t.Errorf("parameter %s: pattern: %v", name, err)
			continue
		}
		if def, ok := p.Default.(string); ok && !re.MatchString(def) {
			t.Errorf("parameter %s: default %q fails its own pattern",
				name, def)
		}
		if ex, ok := examples[name].(string); ok && !re.MatchString(ex) {
			t.Errorf("parameter %s: example %q fails its pattern", name, ex)
		}
		if bad, ok := refused[name]; ok && re.MatchString(bad) {
			t.Errorf("parameter %s: pattern accepts %q", name, bad)
		}
	}
}

// refused are values a parameter's pattern must refuse. A policy on a
// secret's ARN without its random suffix grants nothing.
var refused = map[string]string{
	"IlosSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:" +
		"secret:ilos/api-key",
}

// statement is one IAM policy statement, as the template writes it.
type statement struct {
	Sid       string
	Effect    string
	Action    any
	Resource  any
	Condition map[string]map[string]string
}

func TestTemplatePolicy(t *testing.T) {
	secretRead := statement{Sid: "ReadIlosKey", Effect: "Allow",
		Action:   "secretsmanager:GetSecretValue",
		Resource: exampleSecretARN}
	logs := statement{Sid: "WriteOwnLogs", Effect: "Allow",
		Action:   []any{"logs:CreateLogStream", "logs:PutLogEvents"},
		Resource: "getatt:" + logGroupName + ".Arn"}
	decrypt := statement{Sid: "DecryptIlosKey", Effect: "Allow",
		Action: "kms:Decrypt", Resource: exampleKMSKeyARN,
		Condition: map[string]map[string]string{"StringEquals": {
			"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}}}

	tests := []struct {
		name   string
		params map[string]any
		want   []statement
	}{
		{"AWS managed key", requiredParams(),
			[]statement{logs, secretRead}},
		{"customer managed key",
			withParams(map[string]any{"KmsKeyArn": exampleKMSKeyARN}),
			[]statement{logs, secretRead, decrypt}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := resolve(t, tt.params)
			role, err := d.GetIAMRoleWithName(roleName)
			if err != nil {
				t.Fatal(err)
			}
			if len(role.ManagedPolicyArns) != 0 {
				t.Errorf("ManagedPolicyArns: got %v, want none",
					role.ManagedPolicyArns)
			}
			var got []statement
			for _, p := range role.Policies {
				var doc struct{ Statement []statement }
				b, _ := json.Marshal(p.PolicyDocument)
				if err := json.Unmarshal(b, &doc); err != nil {
					t.Fatalf("policy %s: %v", p.PolicyName, err)
				}
				got = append(got, doc.Statement...)
			}
			if !equalJSON(got, tt.want) {
				t.Errorf("statements:\ngot  %+v\nwant %+v", got, tt.want)
			}
			assumed, _ := json.Marshal(role.AssumeRolePolicyDocument)
			if !strings.Contains(string(assumed), `"lambda.amazonaws.com"`) {
				t.Errorf("role assumable by %s, want lambda.amazonaws.com",
					assumed)
			}
		})
	}
}

func TestTemplateRoutes(t *testing.T) {
	d := resolve(t, requiredParams())
	type route struct{ API, Method, Path string }
	var got []route
	for name, ev := range d.function(t).Events {
		if ev.Type != "HttpApi" || ev.Properties == nil ||
			ev.Properties.HttpApiEvent == nil {
			t.Errorf("event %s: got type %s, want HttpApi", name, ev.Type)
			continue
		}
		p := ev.Properties.HttpApiEvent
		if p.Auth != nil {
			t.Errorf("event %s has Auth; the authorizer belongs in the API",
				name)
		}
		got = append(got, route{deref(p.ApiId), deref(p.Method),
			deref(p.Path)})
	}
	slices.SortFunc(got, func(a, b route) int {
		return strings.Compare(a.Method, b.Method)
	})
	want := []route{
		{"ref:" + apiName, "OPTIONS", "/token"},
		{"ref:" + apiName, "POST", "/token"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("routes: got %v, want %v", got, want)
	}

	api, err := d.GetServerlessHttpApiWithName(apiName)
	if err != nil {
		t.Fatal(err)
	}
	if api.CorsConfiguration != nil {
		t.Error("the API has a CORS configuration; the function owns CORS")
	}
	if api.Auth != nil {
		t.Error("the API has Auth; it cannot be conditional, use the body")
	}
	rs := api.DefaultRouteSettings
	if rs == nil || deref(rs.ThrottlingRateLimit) != 20 ||
		deref(rs.ThrottlingBurstLimit) != 40 {
		t.Errorf("DefaultRouteSettings: got %+v, want rate 20, burst 40", rs)
	}

	out, ok := d.Outputs["TokenURL"]
	if !ok {
		t.Fatal("no TokenURL output")
	}
	if s, _ := out.Value.(string); !strings.HasPrefix(s, "https://ref:"+
		apiName+".execute-api.") || !strings.HasSuffix(s, "/token") {
		t.Errorf("TokenURL: got %v, want the API's /token URL", out.Value)
	}
}

func TestTemplateAuthorizer(t *testing.T) {
	jwt := withParams(map[string]any{
		"JwtIssuer":   exampleIssuer,
		"JwtAudience": "client-a,client-b",
	})
	tests := []struct {
		name     string
		params   map[string]any
		security any // of POST /token
		scheme   any // components.securitySchemes.JwtAuthorizer
	}{
		{"open", requiredParams(), nil, nil},
		{"JWT", jwt, []any{map[string]any{"JwtAuthorizer": []any{}}},
			map[string]any{
				"type": "oauth2",
				"x-amazon-apigateway-authorizer": map[string]any{
					"type":           "jwt",
					"identitySource": "$request.header.Authorization",
					"jwtConfiguration": map[string]any{
						"issuer":   exampleIssuer,
						"audience": []any{"client-a", "client-b"},
					},
				},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api, err := resolve(t, tt.params).
				GetServerlessHttpApiWithName(apiName)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := api.DefinitionBody.(map[string]any)
			path := dig(body, "paths", "/token")
			if got := dig(path, "post", "security"); !equalJSON(got,
				tt.security) {
				t.Errorf("POST security: got %v, want %v", got, tt.security)
			}
			if got := dig(path, "options", "security"); got != nil {
				t.Errorf("OPTIONS security: got %v, want none: a preflight "+
					"carries no token", got)
			}
			got := dig(body, "components", "securitySchemes",
				"JwtAuthorizer")
			if !equalJSON(got, tt.scheme) {
				t.Errorf("authorizer: got %v, want %v", got, tt.scheme)
			}
		})
	}
}

// dig walks nested maps by key; nil when a key is absent.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// TestTemplateLint runs cfn-lint, which also runs the SAM transform, so a
// template that SAM would refuse fails here.
func TestTemplateLint(t *testing.T) {
	path, err := exec.LookPath("cfn-lint")
	if err != nil {
		skipUnlessCI(t, "cfn-lint is not installed (pip install cfn-lint)")
	}
	out, err := exec.CommandContext(t.Context(), path, templateFile).
		CombinedOutput()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		t.Errorf("cfn-lint %s: %v\n%s", templateFile, err, out)
	case err != nil:
		t.Fatalf("cfn-lint: %v", err)
	}
}

// skipUnlessCI skips the test for a missing tool, or fails it when the CI
// environment variable is set: CI must run everything.
func skipUnlessCI(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s, and CI is set", why)
	}
	t.Skip(why)
}
