<?php
// A php-fpm script publishing as Workerman's Channel\Client does outside
// Workerman: a blocking socket, publish and enqueue only, each message
// written as pack('N', 4+len).serialize($msg), then the script ends.
//
// php publisher.php 127.0.0.1:2206 [token]
require __DIR__ . '/client.php';

$conn = ch_connect($argv[1], $argv[2] ?? '');
$data = ['user' => 'ana', 'n' => 7, 'f' => 0.1, 'tags' => ['a', 'b'], 'ok' => false, 'none' => null, 'utf8' => 'ação'];
ch_send($conn, ['type' => 'publish', 'channels' => ['from_php'], 'data' => $data]);
ch_send($conn, ['type' => 'enqueue', 'channels' => ['go_jobs'], 'data' => 'job from php']);
fclose($conn);
