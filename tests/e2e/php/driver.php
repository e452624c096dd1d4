<?php
// Drives clients/php/TargetSMSVerify.php from tests/e2e/test_php_client.py: one call per run,
// its answer (or its ApiError) as one JSON line. Input: API_URL, API_KEY and a JSON argument.
declare(strict_types=1);
require __DIR__ . '/../../../clients/php/TargetSMSVerify.php';

use TargetSMS\Verify\{ApiError, Client, WebhookError};

$args = json_decode($argv[2] ?? '{}', true);
try {
    if ($argv[1] === 'webhook') {
        $event = Client::verifyWebhook($args['secret'], $args['body'], $args['headers']);
        echo json_encode(['accepted' => true, 'type' => $event['type']]), "\n";
        exit(0);
    }
    $api = new Client(getenv('API_URL'), getenv('API_KEY'));
    $out = match ($argv[1]) {
        'request' => $api->request($args['phone'], $args['client_ip']),
        'check' => $api->check($args['id'], $args['code'], $args['client_ip']),
        'status' => $api->status($args['id']),
        'resend' => $api->resend($args['id'], $args['client_ip']),
        'cancel' => $api->cancel($args['id']),
    };
    echo json_encode($out), "\n";
} catch (ApiError $e) {
    echo json_encode(['status' => $e->status, 'error' => $e->errorCode, 'retry_after' => $e->retryAfter]), "\n";
} catch (WebhookError $e) {
    echo json_encode(['accepted' => false, 'why' => $e->getMessage()]), "\n";
}
