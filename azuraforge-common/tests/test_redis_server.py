import redis

from azuraforge_common.redis_server import RedisServer


def test_persistent_server_keeps_data_across_a_restart(tmp_path):
    server = RedisServer(tmp_path, persistent=True)
    with server:
        first_process = server.process
        client = redis.Redis.from_url(server.url)
        client.rpush("queue", "task-1")
        client.close()
    assert first_process is not None
    assert first_process.poll() is not None, "stop() leaves no redis-server behind"

    with RedisServer(tmp_path, persistent=True, port=server.port) as again:
        client = redis.Redis.from_url(again.url)
        assert client.lrange("queue", 0, -1) == [b"task-1"]
        client.close()
