"""Connected services: the carmind cloud, the vehicle link over MQTT, signed remote commands,
Home Assistant. The wire contract is `carmind.connect.protocol`."""
