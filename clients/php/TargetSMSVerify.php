<?php
/**
 * targetsms-worker HTTP API client for PHP 8: one file, no dependencies beyond ext-curl and
 * ext-json. Copy it into your project and require it.
 *
 *   $api = new \TargetSMS\Verify\Client('https://otp.example.com', getenv('TARGETSMS_API_KEY'));
 *   $v = $api->request('+79001234567', $_SERVER['REMOTE_ADDR']);      // ['id' => ..., 'state' => 'queued']
 *   $r = $api->check($v['id'], $_POST['code'], $_SERVER['REMOTE_ADDR']);
 *   if ($r['ok']) { log_in_as($r['phone']); }                        // the number the code proved
 *
 * Keep the verification id on your server (session), never the code: the code exists only in
 * the SMS. Webhooks: Client::verifyWebhook($secret, $rawBody, getallheaders()).
 */

declare(strict_types=1);

namespace TargetSMS\Verify;

/** A refusal or failure from the API: $status (HTTP), $errorCode (stable), $retryAfter (s). */
class ApiError extends \RuntimeException
{
    public function __construct(
        public readonly int $status,
        public readonly string $errorCode,
        string $message,
        public readonly ?int $retryAfter = null,
    ) {
        parent::__construct($message, $status);
    }
}

/** A webhook whose signature, timestamp or headers do not check out: ignore it (answer 400). */
class WebhookError extends \RuntimeException
{
}

final class Client
{
    private string $baseUrl;

    public function __construct(
        string $baseUrl,
        private string $apiKey,
        private float $timeout = 5.0,
    ) {
        $this->baseUrl = rtrim($baseUrl, '/');
    }

    /** Send a code. $clientIp is your user's IP (not your server's): every per-IP limit uses it. */
    public function request(
        string $phone,
        string $clientIp,
        ?string $captchaToken = null,
        ?string $idempotencyKey = null,
    ): array {
        $body = ['phone' => $phone, 'client_ip' => $clientIp];
        if ($captchaToken !== null) {
            $body['captcha_token'] = $captchaToken;
        }
        $headers = $idempotencyKey !== null ? ['Idempotency-Key: ' . $idempotencyKey] : [];
        return $this->call('POST', '/v1/verifications', $body, $headers);
    }

    /** ['ok', 'reason', 'attempts_left', 'retry_after', 'phone']: 'phone' (E.164) only when ok. */
    public function check(string $id, string $code, string $clientIp): array
    {
        return $this->call('POST', '/v1/verifications/' . rawurlencode($id) . '/check',
            ['code' => $code, 'client_ip' => $clientIp]);
    }

    public function status(string $id): array
    {
        return $this->call('GET', '/v1/verifications/' . rawurlencode($id));
    }

    public function resend(string $id, string $clientIp, ?string $captchaToken = null): array
    {
        $body = ['client_ip' => $clientIp];
        if ($captchaToken !== null) {
            $body['captcha_token'] = $captchaToken;
        }
        return $this->call('POST', '/v1/verifications/' . rawurlencode($id) . '/resend', $body);
    }

    public function cancel(string $id): array
    {
        return $this->call('POST', '/v1/verifications/' . rawurlencode($id) . '/cancel', []);
    }

    /**
     * Check a webhook by the Standard Webhooks scheme and return its event. $headers: the
     * request's headers (any case); $body: the raw body, exactly as received.
     * Throws WebhookError when it is not from us (or too old / too new: replays).
     */
    public static function verifyWebhook(
        string $secret,
        string $body,
        array $headers,
        ?int $now = null,
        int $toleranceSeconds = 300,
    ): array {
        $h = array_change_key_case($headers, CASE_LOWER);
        $id = (string) ($h['webhook-id'] ?? '');
        $timestamp = (string) ($h['webhook-timestamp'] ?? '');
        $signatures = (string) ($h['webhook-signature'] ?? '');
        if ($id === '' || $timestamp === '' || $signatures === '' || !ctype_digit($timestamp)) {
            throw new WebhookError('missing or malformed webhook headers');
        }
        $now ??= time();
        if (abs($now - (int) $timestamp) > $toleranceSeconds) {
            throw new WebhookError('webhook timestamp outside the tolerance');
        }
        $key = base64_decode(str_starts_with($secret, 'whsec_') ? substr($secret, 6) : $secret, true);
        if ($key === false || $key === '') {
            throw new WebhookError('the webhook secret is not valid base64');
        }
        $expected = base64_encode(hash_hmac('sha256', "$id.$timestamp.$body", $key, true));
        foreach (explode(' ', $signatures) as $versioned) {
            [$version, $signature] = array_pad(explode(',', $versioned, 2), 2, '');
            if ($version === 'v1' && hash_equals($expected, $signature)) {
                $event = json_decode($body, true);
                if (!is_array($event)) {
                    throw new WebhookError('the webhook body is not a JSON object');
                }
                return $event;
            }
        }
        throw new WebhookError('no valid webhook signature');
    }

    private function call(string $method, string $path, ?array $body = null, array $headers = []): array
    {
        $ch = curl_init($this->baseUrl . $path);
        $responseHeaders = [];
        $options = [
            CURLOPT_CUSTOMREQUEST => $method,
            CURLOPT_RETURNTRANSFER => true,
            CURLOPT_TIMEOUT_MS => (int) ($this->timeout * 1000),
            CURLOPT_CONNECTTIMEOUT_MS => (int) (min($this->timeout, 3.0) * 1000),
            CURLOPT_FOLLOWLOCATION => false,
            CURLOPT_HTTPHEADER => array_merge([
                'Authorization: Bearer ' . $this->apiKey,
                'Accept: application/json',
                'Content-Type: application/json',
            ], $headers),
            CURLOPT_HEADERFUNCTION => function ($ch, string $line) use (&$responseHeaders): int {
                $parts = explode(':', $line, 2);
                if (count($parts) === 2) {
                    $responseHeaders[strtolower(trim($parts[0]))] = trim($parts[1]);
                }
                return strlen($line);
            },
        ];
        if ($body !== null && $method !== 'GET') {
            $options[CURLOPT_POSTFIELDS] = json_encode((object) $body, JSON_THROW_ON_ERROR);
        }
        curl_setopt_array($ch, $options);
        $raw = curl_exec($ch);
        if ($raw === false) {
            $error = curl_error($ch);
            curl_close($ch);
            throw new ApiError(0, 'network_error', 'the API did not answer: ' . $error);
        }
        $status = (int) curl_getinfo($ch, CURLINFO_RESPONSE_CODE);
        curl_close($ch);
        $data = json_decode((string) $raw, true);
        if (!is_array($data)) {
            throw new ApiError($status, 'protocol_error', 'the API answered something not JSON');
        }
        if ($status >= 400) {
            $retry = isset($responseHeaders['retry-after']) ? (int) $responseHeaders['retry-after'] : null;
            throw new ApiError($status, (string) ($data['error'] ?? 'error'),
                (string) ($data['message'] ?? 'request refused'), $retry);
        }
        return $data;
    }
}
