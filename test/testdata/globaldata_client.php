<?php
// A GlobalData client written from Workerman's wire format, as PHP programs
// using Workerman's GlobalData\Client talk to a server: one blocking socket
// per server, keys sharded with abs(crc32(key)) % n, each request
// pack('N', 4 + len) . serialize([...]), each reply one frame holding a
// serialize()d value.
//
// php globaldata_client.php PHASE ADDR [ADDR...]
// prints one line per step: "name serialize(result)".

$phase = $argv[1];
$servers = array_slice($argv, 2);
$conns = [];

function conn($key) {
    global $servers, $conns;
    $i = abs(crc32($key)) % count($servers);
    if (!isset($conns[$i])) {
        $c = stream_socket_client("tcp://{$servers[$i]}", $code, $msg, 5);
        if (!$c) {
            fwrite(STDERR, "connect {$servers[$i]}: $msg\n");
            exit(1);
        }
        stream_set_timeout($c, 5);
        $conns[$i] = $c;
    }
    return $conns[$i];
}

function send_frame($c, $payload) {
    $buf = pack('N', 4 + strlen($payload)) . $payload;
    if (fwrite($c, $buf) !== strlen($buf)) {
        fwrite(STDERR, "write failed\n");
        exit(1);
    }
}

function read_frame($c) {
    $head = '';
    while (strlen($head) < 4) {
        $b = fread($c, 4 - strlen($head));
        if ($b === '' || $b === false) {
            return false;
        }
        $head .= $b;
    }
    $len = unpack('N', $head)[1] - 4;
    $body = '';
    while (strlen($body) < $len) {
        $b = fread($c, $len - strlen($body));
        if ($b === '' || $b === false) {
            return false;
        }
        $body .= $b;
    }
    return $body;
}

function request($data) {
    $c = conn($data['key']);
    send_frame($c, serialize($data));
    $r = read_frame($c);
    if ($r === false) {
        fwrite(STDERR, "no reply to {$data['cmd']} {$data['key']}\n");
        exit(1);
    }
    return unserialize($r);
}

// The client's operations, as Workerman's Client has them.
function gd_get($k) { return request(['cmd' => 'get', 'key' => $k]); }
function gd_set($k, $v) { return request(['cmd' => 'set', 'key' => $k, 'value' => $v]); }
function gd_add($k, $v) { return request(['cmd' => 'add', 'key' => $k, 'value' => $v]); }
function gd_increment($k, $step = 1) { return request(['cmd' => 'increment', 'key' => $k, 'step' => $step]); }
function gd_cas($k, $old, $new) {
    return request(['cmd' => 'cas', 'md5' => md5(serialize($old)), 'key' => $k, 'value' => $new]);
}
function gd_delete($k) { return request(['cmd' => 'delete', 'key' => $k]); }

function out($name, $v) { echo $name, ' ', serialize($v), "\n"; }

$nested = ['name' => 'php', 'list' => [1, 2.5, 0.1, -0.0, 1e100, 'x' => [true, null, 'ü']], 7 => 1.0];

switch ($phase) {
case 'write':
    out('get-absent', gd_get('php_str'));
    out('set-str', gd_set('php_str', "hello\x00world"));
    out('get-str', gd_get('php_str'));
    out('set-int', gd_set('php_int', 41));
    out('incr', gd_increment('php_int'));
    out('incr-float', gd_increment('php_float_counter_absent', 2));
    out('set-float', gd_set('php_float', 0.1));
    out('incr-step-float', gd_increment('php_float', 0.2));
    out('set-numstr', gd_set('php_numstr', '10'));
    out('incr-numstr', gd_increment('php_numstr', 5));
    out('set-word', gd_set('php_word', 'abc'));
    out('incr-word', gd_increment('php_word', 3));
    out('set-nested', gd_set('php_nested', $nested));
    out('local-nested', $nested);
    out('get-nested', gd_get('php_nested'));
    out('add-existing', gd_add('php_nested', 1));
    out('add-new', gd_add('php_added', [1, 2]));
    // cas with nested arrays and floats: the value read back is the old one.
    $cur = gd_get('php_nested');
    out('cas', gd_cas('php_nested', $cur, ['v' => 2, 'f' => 0.30000000000000004]));
    out('cas-stale', gd_cas('php_nested', $cur, 'stale'));
    out('get-after-cas', gd_get('php_nested'));
    out('cas-absent', gd_cas('php_cas_new', null, 1.5));
    out('set-del', gd_set('php_del', 1));
    out('delete', gd_delete('php_del'));
    out('get-deleted', gd_get('php_del'));
    // A ping frame gets no reply: the next frame is the get's.
    $c = conn('php_int');
    send_frame($c, 'ping');
    out('after-ping', gd_get('php_int'));
    // Keys for the sharding check, each holding its own name.
    foreach (['a', 'b', 'c', 'user:1', 'user:2', 'counter', 'ü'] as $k) {
        gd_set("shard_$k", "shard_$k");
        echo 'shard ', "shard_$k", ' ', abs(crc32("shard_$k")) % count($servers), "\n";
    }
    break;

case 'read':
    // Values a Go client stored.
    foreach (['go_str', 'go_int', 'go_float', 'go_nested', 'go_list'] as $k) {
        out($k, gd_get($k));
    }
    // A cas with the value PHP read matches the digest of the Go client's
    // bytes.
    out('cas-go', gd_cas('go_nested', gd_get('go_nested'), 'from php'));
    out('get-go-after-cas', gd_get('go_nested'));
    out('incr-go', gd_increment('go_int', 10));
    break;

case 'bad':
    // A request that is no serialize() array closes the connection after
    // serialize('bad request'); an unknown command after 'bad cmd X'.
    $c = conn('x');
    send_frame($c, 'garbage');
    echo 'bad ', read_frame($c), "\n";
    echo 'eof ', var_export(read_frame($c), true), "\n";
    global $conns;
    $conns = [];
    $c = conn('x');
    send_frame($c, serialize(['cmd' => 'flush', 'key' => 'x']));
    echo 'badcmd ', read_frame($c), "\n";
    break;

case 'survive':
    foreach (['php_str', 'php_int', 'php_nested'] as $k) {
        out($k, gd_get($k));
    }
    break;
}
